"""`f5-runtime synth TEXT --voice FILE_OR_URL --out FILE [--subtitles FILE] [options]`.

Synthesis on this machine, no RunPod: the same request validation, engines and subtitles as
the endpoint, with local files allowed (the endpoint never reads local files). Progress
(model loading, then each stage) goes to stderr; the outputs are written atomically.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from f5_runtime.errors import RuntimeFailure, UserError

# The pipeline's and the engines' stage names (engines.SYNTHESIS_STAGES) in words.
STAGE_LABELS = {"fetch": "reading inputs", "reference": "preparing the voice",
                "synthesize": "generating speech", "align": "timing the words"}


class Progress:
    """One line per stage on stderr, with the time since the command started."""

    def __init__(self, stream: Any = None):
        self.stream = stream or sys.stderr
        self.t0 = time.perf_counter()

    def __call__(self, stage: str) -> None:
        label = STAGE_LABELS.get(stage, stage)
        self.stream.write(f"[{time.perf_counter() - self.t0:6.1f} s] {label}...\n")
        self.stream.flush()


def add_output_options(parser: argparse.ArgumentParser) -> None:
    """Subtitle flags shared by `synth` and `align`."""
    parser.add_argument("--subtitle-format", choices=("ass", "srt", "vtt"),
                        help="subtitle format (default: from the --subtitles file name, else ass)")
    parser.add_argument("--no-karaoke", action="store_true", help="no per-word highlighting")
    parser.add_argument("--max-line-chars", type=int, help="characters per line (default 42)")
    parser.add_argument("--max-lines", type=int, help="lines per subtitle (default 2)")
    parser.add_argument("--language", help="ISO 639-1 code, e.g. en (default: en; align: detect)")
    parser.add_argument("--json", type=Path, metavar="FILE",
                        help="also write word timings and stage timings as JSON")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("text", help="the text to speak")
    parser.add_argument("--voice", required=True, metavar="FILE_OR_URL",
                        help="reference recording: a local file, s3://, https:// or data: URI")
    parser.add_argument("--voice-text", help="transcript of the reference (else recognised)")
    parser.add_argument("--out", required=True, type=Path, metavar="FILE",
                        help="audio file to write (.wav, .flac, .ogg, .mp3)")
    parser.add_argument("--subtitles", type=Path, metavar="FILE", help="subtitle file to write")
    parser.add_argument("--fit-to", metavar="FILE_OR_URL",
                        help="a source recording whose duration the speech is fitted to (dubbing)")
    parser.add_argument("--format", choices=("wav", "flac", "ogg", "mp3"),
                        help="audio format (default: from the --out file name, else wav)")
    parser.add_argument("--nfe-steps", type=int, help="flow-matching steps, 4-64 (default 32)")
    parser.add_argument("--cfg-strength", type=float, help="guidance strength (default 2.0)")
    parser.add_argument("--sway", type=float, dest="sway_sampling_coef",
                        help="sway sampling coefficient (default -1.0)")
    parser.add_argument("--speed", type=float, help="speaking speed, 0.5-2.0 (default 1.0)")
    parser.add_argument("--seed", type=int, help="random seed (same seed -> same audio)")
    add_output_options(parser)


def suffix_format(path: Path | None, allowed: tuple[str, ...], default: str) -> str:
    suffix = path.suffix.lower().lstrip(".") if path is not None else ""
    return suffix if suffix in allowed else default


def subtitle_request_options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {
        "create_subtitles": args.subtitles is not None,
        "subtitle_format": args.subtitle_format
        or suffix_format(args.subtitles, ("ass", "srt", "vtt"), "ass"),
        "karaoke": not args.no_karaoke,
    }
    for name in ("max_line_chars", "max_lines"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    return options


def write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def run_local(raw: dict[str, Any], job_id: str) -> Any:
    """Load the engines, validate `raw` (local files allowed), produce the artifacts."""
    from f5_runtime import pipeline, worker
    from f5_runtime.config import Settings
    from f5_runtime.schema import Limits, parse_request
    from f5_runtime.storage import Storage

    settings = Settings.from_env()
    progress = Progress()
    limits = Limits.from_settings(settings, allow_local_files=True)
    request = parse_request(raw, limits)  # fail on a bad flag before loading any model
    progress("loading models")
    engines = worker.load_engines(settings)
    storage = Storage(settings, allow_local_files=True)
    clock = pipeline.StageClock(progress)
    with pipeline.job_workdir(settings, job_id) as workdir:
        artifacts = pipeline.produce(request, engines=engines, storage=storage, workdir=workdir,
                                     limits=limits, clock=clock)
    progress(f"done in {clock.elapsed:.1f} s")
    return artifacts


def write_json(path: Path | None, artifacts: Any) -> None:
    if path is None:
        return
    payload = {
        "text": artifacts.text, "language": artifacts.language, "duration": artifacts.duration,
        "word_timings": [{"word": w.word, "start": w.start, "end": w.end, "score": w.score}
                         for w in artifacts.words],
        "timings": artifacts.timings,
    }
    write_atomically(path, json.dumps(payload, indent=2).encode())


def report_failure(exc: Exception) -> int:
    if isinstance(exc, UserError):
        sys.stderr.write(f"error: {exc}\n")
        return 2
    sys.stderr.write(f"failed: {exc}\n")
    return 1


def main(args: argparse.Namespace) -> int:
    options = subtitle_request_options(args)
    options["output_format"] = args.format or suffix_format(
        args.out, ("wav", "flac", "ogg", "mp3"), "wav")
    for name in ("nfe_steps", "cfg_strength", "sway_sampling_coef", "speed", "seed"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    raw: dict[str, Any] = {"text": args.text, "voice_reference_url": args.voice,
                           "options": options}
    if args.voice_text:
        raw["voice_reference_text"] = args.voice_text
    if args.fit_to:
        raw["audio_url"] = args.fit_to
    if args.language:
        raw["language"] = args.language
    try:
        artifacts = run_local(raw, job_id="synth")
    except RuntimeFailure as exc:
        return report_failure(exc)
    write_atomically(args.out, artifacts.audio)
    sys.stderr.write(f"wrote {args.out} ({artifacts.duration:.2f} s)\n")
    if args.subtitles is not None and artifacts.subtitles is not None:
        write_atomically(args.subtitles, artifacts.subtitles)
        sys.stderr.write(f"wrote {args.subtitles}\n")
    write_json(args.json, artifacts)
    return 0
