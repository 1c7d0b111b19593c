"""`f5-runtime COMMAND` / `python -m f5_runtime COMMAND`.

Each command lives in its own module, which provides `add_arguments(parser)` and
`main(args) -> int`; this file only wires them, so that `--help` and the light commands
never import torch (the command modules import nothing heavy at import time). Logging is
configured here, before the command runs and so before any heavy import, so that import
errors are logged: readable lines on stderr (stdout is for a command's own output).

The contract with f5-bootstrap (see the package README): `healthcheck` (exit 0 when the env
can serve), `fetch-models` (idempotent; exit 0 when every model is on the volume) and
`worker` (the RunPod worker, exec'd by `f5-bootstrap run`).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from f5_runtime import version

DESCRIPTION = """\
Text to speech in the voice of a short reference recording (F5-TTS), with a time for every
word (WhisperX) and subtitles (ASS, SRT, VTT): the RunPod serverless worker, and the same
service as commands on your own GPU or CPU machine."""

EXAMPLES = """\
examples:
  f5-runtime job test_input.json              one endpoint job on this machine: files in out/
  f5-runtime synth "Hello." --voice me.wav --voice-text "What I say in me.wav." --out hi.wav
  f5-runtime align talk.mp3 --subtitles talk.srt
  f5-runtime voices add alice alice.wav --text "What Alice says in alice.wav."
  f5-runtime synth "Hello." --voice alice --out hi.wav      a registered voice, by name
  f5-runtime COMMAND --help                   the options of one command

F5_LOAD_FORMAT=dummy F5_TTS_MODEL=tiny runs every command with tiny random models (no
downloads; the audio is noise). Configuration is read from the environment: see the README."""

# command -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "job": ("f5_runtime.serving.local_job",
            "run one endpoint job (JSON) on this machine; outputs written to files"),
    "synth": ("f5_runtime.serving.local_synth", "synthesize speech from the command line"),
    "align": ("f5_runtime.serving.local_align", "word timings and subtitles for a recording"),
    "voices": ("f5_runtime.serving.local_voices",
               "named voices: add NAME FILE_OR_URL, list, rm NAME"),
    "worker": ("f5_runtime.serving.modes",
               "run the RunPod serverless worker (what f5-bootstrap execs)"),
    "serve": ("f5_runtime.serving.serve",
              "the HTTP server: OpenAI's speech API, streaming, the native API (/runsync)"),
    "fetch-models": ("f5_runtime.models.fetch",
                     "download every model of the manifest to the volume"),
    "healthcheck": ("f5_runtime.models.health", "check that this environment can serve (exit 0)"),
    "bench": ("f5_runtime.serving.bench", "time each stage of synthesis and alignment"),
}
LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def add_verbose(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="debug logging")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="f5-runtime", description=DESCRIPTION, epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"f5-runtime {version()}")
    add_verbose(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (_module, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    # The subcommand's own parser is built only for the command that runs (lazy imports).
    known, rest = parser.parse_known_args(argv)
    module_name, help_text = COMMANDS[known.command]
    module = importlib.import_module(module_name)
    sub = argparse.ArgumentParser(prog=f"f5-runtime {known.command}", description=help_text)
    add_verbose(sub)
    module.add_arguments(sub)
    args = sub.parse_args(rest)
    verbose = getattr(known, "verbose", False) or getattr(args, "verbose", False)
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format=LOG_FORMAT,
                        datefmt="%H:%M:%S", stream=sys.stderr)
    return int(module.main(args) or 0)
