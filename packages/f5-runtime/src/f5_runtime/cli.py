"""`f5-runtime COMMAND` / `python -m f5_runtime COMMAND`.

Each command lives in its own module, which provides `add_arguments(parser)` and
`main(args) -> int`; this file only wires them, so that `--help` and the light commands
never import torch. Logging is configured here, before any heavy import, so that import
errors are logged.

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

# command -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "worker": ("f5_runtime.worker", "run the RunPod serverless worker (what f5-bootstrap execs)"),
    "serve": ("f5_runtime.serve", "run RunPod's local API server on this machine"),
    "synth": ("f5_runtime.local", "synthesize speech from the command line"),
    "align": ("f5_runtime.local_align", "word timings and subtitles for a recording"),
    "fetch-models": ("f5_runtime.models", "download every model of the manifest to the volume"),
    "healthcheck": ("f5_runtime.health", "check that this environment can serve (exit 0)"),
    "bench": ("f5_runtime.bench", "time each stage of synthesis and alignment"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="f5-runtime", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"f5-runtime {version()}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (_module, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    # The subcommand's own parser is built only for the command that runs (lazy imports).
    known, rest = parser.parse_known_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if known.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    module_name, help_text = COMMANDS[known.command]
    module = importlib.import_module(module_name)
    sub = argparse.ArgumentParser(prog=f"f5-runtime {known.command}", description=help_text)
    module.add_arguments(sub)
    args = sub.parse_args(rest)
    return int(module.main(args) or 0)
