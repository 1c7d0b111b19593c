"""`f5-runtime job JOB.json [--out DIR] [--json]`: one endpoint job, run on this machine.

The job goes through the same handler as on RunPod (validation, flow, publishing, error
results), without the RunPod SDK. Outputs returned inline (no bucket configured) are written
to DIR (`out/` by default) as the files an S3 bucket would have got; outputs published to S3
are listed by URL. A short summary ends the run; `--json` prints the whole result as the
endpoint returns it instead (the summary then goes to stderr). Exit 0 done, 1 failed.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import sys
from pathlib import Path
from typing import Any

from f5_runtime.errors import ConfigError, ModelMissingError
from f5_runtime.serving.local import Progress, summary, write_atomically

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("job", metavar="JOB.json",
                        help="the job: {\"input\": {...}} as sent to the endpoint, or just the "
                        "input; '-' reads it from stdin")
    parser.add_argument("--out", type=Path, default=Path("out"), metavar="DIR",
                        help="where inline outputs are written (default: out/)")
    parser.add_argument("--json", action="store_true",
                        help="print the endpoint's JSON result on stdout")


def read_job(source: str) -> dict[str, Any]:
    text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    job = json.loads(text)
    if not isinstance(job, dict):
        raise ValueError("the job must be a JSON object")
    return job if "input" in job else {"input": job}


def write_outputs(result: dict[str, Any], out: Path) -> list[str]:
    """Inline outputs to files in `out` (named as in a bucket); the S3 URLs of the others."""
    from f5_runtime.flow.job import output_name

    written = []
    kind = result["kind"]
    if "audio_base64" in result:
        path = out / output_name(kind, result["audio_format"])
        write_atomically(path, base64.b64decode(result["audio_base64"]))
        written.append(str(path))
    elif "audio_url" in result:
        written.append(result["audio_url"])
    if "subtitles" in result:
        path = out / output_name(kind, result["subtitle_format"], subtitles=True)
        encoding = "utf-8-sig" if result["subtitle_format"] == "ass" else "utf-8"
        write_atomically(path, result["subtitles"].encode(encoding))
        written.append(str(path))
    elif "subtitles_url" in result:
        written.append(result["subtitles_url"])
    return written


def main(args: argparse.Namespace) -> int:
    from f5_runtime.config import Settings
    from f5_runtime.serving.worker import build_handler

    try:
        job = read_job(args.job)
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"error: cannot read the job {args.job}: {exc}\n")
        return 2
    job.setdefault("id", "local")
    progress = Progress()
    try:
        settings = Settings.from_env()
        log.info("%s", settings.summary())
        progress.say("loading models...")
        handler = build_handler(settings)
    except (ConfigError, ModelMissingError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    handler.report = None  # no RunPod here: progress lines on stderr instead
    handler.observe = progress
    result = handler(job)
    if "error" in result:
        sys.stderr.write(f"error: {result['error']}\n")
        return 1
    written = write_outputs(result, args.out)
    text = summary(written, result["duration"], len(result["word_timings"]), result["timings"],
                   result["processing_time"])
    if args.json:
        print(json.dumps(result, indent=2))
        sys.stderr.write(text + "\n")
    else:
        print(text)
    return 0
