"""`f5-runtime synth TEXT --voice NAME_OR_FILE_OR_URL --out FILE [--subtitles FILE] [options]`.

`--voice` is a registered voice's name (see `f5-runtime voices list`) unless it is a local
file or a URL.

Synthesis on this machine, no RunPod: the same request validation, flow and subtitles as
the endpoint, with local files allowed (the endpoint never reads local files). Progress goes
to stderr, a summary to stdout; the outputs are written atomically.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from f5_runtime.engines.types import SynthesisOptions
from f5_runtime.errors import RuntimeFailure
from f5_runtime.serving.local import (
    Progress,
    add_output_options,
    artifacts_json,
    report_failure,
    run_local,
    subtitle_request_options,
    suffix_format,
    summary,
    write_atomically,
)
from f5_runtime.voices.names import is_voice_name

AUDIO_FORMATS = ("wav", "flac", "ogg", "mp3")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = SynthesisOptions()
    parser.add_argument("text", help="the text to speak")
    parser.add_argument("--voice", required=True, metavar="NAME_OR_FILE_OR_URL",
                        help="a registered voice's name (f5-runtime voices list), or a "
                        "reference recording: a local file, s3://, https:// or data: URI")
    parser.add_argument("--voice-text", help="transcript of the reference (else recognised)")
    parser.add_argument("--out", required=True, type=Path, metavar="FILE",
                        help="audio file to write (.wav, .flac, .ogg, .mp3)")
    parser.add_argument("--subtitles", type=Path, metavar="FILE", help="subtitle file to write")
    parser.add_argument("--fit-to", metavar="FILE_OR_URL",
                        help="a source recording whose duration the speech is fitted to (dubbing)")
    parser.add_argument("--format", choices=AUDIO_FORMATS,
                        help="audio format (default: from the --out file name, else wav)")
    parser.add_argument("--nfe-steps", type=int,
                        help=f"flow-matching steps, 4-64 (default {d.nfe_steps})")
    parser.add_argument("--cfg-strength", type=float,
                        help=f"guidance strength (default {d.cfg_strength})")
    parser.add_argument("--sway", type=float, dest="sway_sampling_coef",
                        help=f"sway sampling coefficient (default {d.sway_sampling_coef})")
    parser.add_argument("--speed", type=float, help=f"speaking speed, 0.5-2.0 (default {d.speed})")
    parser.add_argument("--seed", type=int, help="random seed (same seed -> same audio)")
    add_output_options(parser)


def request(args: argparse.Namespace) -> dict[str, Any]:
    """The job `input` these flags describe (validated like the endpoint's)."""
    options = subtitle_request_options(args)
    options["output_format"] = args.format or suffix_format(args.out, AUDIO_FORMATS, "wav")
    for name in ("nfe_steps", "cfg_strength", "sway_sampling_coef", "speed", "seed"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    raw: dict[str, Any] = {"text": args.text, "options": options}
    if is_voice_name(args.voice) and not Path(args.voice).exists():
        raw["voice"] = args.voice
    else:
        raw["voice_reference_url"] = args.voice
    if args.voice_text:
        raw["voice_reference_text"] = args.voice_text
    if args.fit_to:
        raw["audio_url"] = args.fit_to
    if args.language:
        raw["language"] = args.language
    return raw


def main(args: argparse.Namespace) -> int:
    try:
        artifacts = run_local(request(args), job_id="synth", progress=Progress())
    except RuntimeFailure as exc:
        return report_failure(exc)
    assert artifacts.audio is not None
    written = [str(args.out)]
    write_atomically(args.out, artifacts.audio)
    if args.subtitles is not None and artifacts.subtitles is not None:
        write_atomically(args.subtitles, artifacts.subtitles)
        written.append(str(args.subtitles))
    if args.json is not None:
        write_atomically(args.json, json.dumps(artifacts_json(artifacts), indent=2).encode())
        written.append(str(args.json))
    print(summary(written, artifacts.duration, len(artifacts.words), artifacts.timings))
    return 0
