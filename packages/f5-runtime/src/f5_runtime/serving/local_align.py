"""`f5-runtime align AUDIO [--text TEXT] --subtitles FILE`: subtitles for a recording.

The recording is force-aligned to `--text`, or transcribed when no text is given, then
subtitled exactly as the endpoint's subtitle job does. Local files allowed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from f5_runtime.errors import RuntimeFailure
from f5_runtime.serving.local import (
    Progress,
    add_output_options,
    artifacts_json,
    report_failure,
    run_local,
    subtitle_request_options,
    summary,
    write_atomically,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("audio", metavar="AUDIO", help="recording: a local file, s3:// or https://")
    parser.add_argument("--text", help="what is said (else the recording is transcribed)")
    parser.add_argument("--text-file", type=Path, help="read the text from this file")
    parser.add_argument("--subtitles", required=True, type=Path, metavar="FILE",
                        help="subtitle file to write (.ass, .srt, .vtt)")
    add_output_options(parser)


def main(args: argparse.Namespace) -> int:
    raw: dict[str, Any] = {"audio_url": args.audio, "options": subtitle_request_options(args)}
    text = args.text_file.read_text(encoding="utf-8") if args.text_file else args.text
    if text is not None:
        raw["text"] = text
    if args.language:
        raw["language"] = args.language
    try:
        artifacts = run_local(raw, job_id="align", progress=Progress())
    except RuntimeFailure as exc:
        return report_failure(exc)
    assert artifacts.subtitles is not None
    write_atomically(args.subtitles, artifacts.subtitles)
    written = [str(args.subtitles)]
    if args.json is not None:
        write_atomically(args.json, json.dumps(artifacts_json(artifacts), indent=2).encode())
        written.append(str(args.json))
    print(summary(written, artifacts.duration, len(artifacts.words), artifacts.timings))
    return 0
