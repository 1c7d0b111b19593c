"""What the local commands (`job`, `synth`, `align`) share: progress lines, atomic file
writes, the summary printed at the end, and running a job on this machine.

Progress and errors go to stderr; the summary (files written, duration, words timed, stage
times) to stdout, or to stderr when stdout carries JSON (`--json`).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from f5_runtime.errors import UserError
from f5_runtime.io.subtitles import SubtitleOptions

if TYPE_CHECKING:
    from f5_runtime.flow.clock import Stage
    from f5_runtime.flow.job import Artifacts

LABELS = {  # how a stage reads in a progress line
    "fetch": "reading inputs", "reference": "preparing the voice reference",
    "generate": "generating speech", "align": "timing the words",
    "transcribe": "recognising the speech", "subtitles": "writing subtitles",
    "publish": "publishing",
}
log = logging.getLogger(__name__)
QUIET = frozenset({"validate", "vocode", "assemble", "encode"})  # too quick to be worth a line


class Progress:
    """One line per stage on stderr (per chunk for `generate`), with the time since start."""

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream or sys.stderr
        self.t0 = time.perf_counter()
        self.seen: set[tuple[str, int | None]] = set()

    def say(self, text: str) -> None:
        self.stream.write(f"[{time.perf_counter() - self.t0:6.1f} s] {text}\n")
        self.stream.flush()

    def __call__(self, stage: Stage) -> None:
        key = stage.progress_key
        if stage.name in QUIET or key is None or key in self.seen:
            return
        self.seen.add(key)
        label = LABELS.get(stage.name, stage.name)
        if key[1] is not None and stage.chunks and stage.chunks > 1:
            label += f" (chunk {stage.chunk + 1} of {stage.chunks})"
        self.say(label + "...")


def add_output_options(parser: argparse.ArgumentParser) -> None:
    """Subtitle flags shared by `synth` and `align`."""
    defaults = SubtitleOptions()
    parser.add_argument("--subtitle-format", choices=("ass", "srt", "vtt"),
                        help="subtitle format (default: from the --subtitles file name, else "
                        f"{defaults.format})")
    parser.add_argument("--no-karaoke", action="store_true", help="no per-word highlighting")
    parser.add_argument("--max-line-chars", type=int,
                        help=f"characters per line (default {defaults.max_line_chars})")
    parser.add_argument("--max-lines", type=int,
                        help=f"lines per subtitle (default {defaults.max_lines})")
    parser.add_argument("--language", help="ISO 639-1 code, e.g. en (default: en; align: detect)")
    parser.add_argument("--json", type=Path, metavar="FILE",
                        help="also write word timings and stage timings as JSON")


def suffix_format(path: Path | None, allowed: tuple[str, ...], default: str) -> str:
    suffix = path.suffix.lower().lstrip(".") if path is not None else ""
    return suffix if suffix in allowed else default


def subtitle_request_options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {
        "create_subtitles": args.subtitles is not None,
        "subtitle_format": args.subtitle_format
        or suffix_format(args.subtitles, ("ass", "srt", "vtt"), SubtitleOptions.format),
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


def run_local(raw: dict[str, Any], job_id: str, progress: Progress) -> Artifacts:
    """Validate `raw` (local files allowed), load the engines, produce the artifacts."""
    from f5_runtime.api.request import Limits, parse_request
    from f5_runtime.config import Settings
    from f5_runtime.flow.clock import StageClock
    from f5_runtime.flow.job import job_workdir, produce
    from f5_runtime.io.storage import Storage
    from f5_runtime.serving import worker
    from f5_runtime.voices.library import VoiceLibrary

    settings = Settings.from_env()
    log.debug("settings:\n%s", settings.describe())
    limits = Limits.from_settings(settings, allow_local_files=True)
    request = parse_request(raw, limits)  # fail on a bad flag before loading any model
    progress.say("loading models...")
    engines = worker.load_engines(settings)
    storage = Storage(settings, allow_local_files=True)
    voices = VoiceLibrary.from_settings(settings, s3=storage.s3,
                                        prepare=engines.prepare_reference)
    clock = StageClock(progress)
    with job_workdir(settings, job_id) as workdir:
        artifacts = produce(request, engines=engines, inputs=storage.inputs, workdir=workdir,
                            limits=limits, clock=clock, voices=voices)
    clock.stop()
    return artifacts


def artifacts_json(artifacts: Artifacts) -> dict[str, Any]:
    from f5_runtime.api.result import quality_json, word_json

    out = {"kind": artifacts.kind, "text": artifacts.text, "language": artifacts.language,
           "duration": round(artifacts.duration, 3),
           "word_timings": [word_json(w) for w in artifacts.words],
           "timings": {k: round(v, 4) for k, v in artifacts.timings.items()}}
    if artifacts.quality is not None:
        out["quality"] = quality_json(artifacts.quality)
    return out


def summary(written: Sequence[str], duration: float, words: int,
            timings: Mapping[str, float], total: float | None = None) -> str:
    """What a local run made, in a few lines a person reads."""
    lines = [f"wrote {name}" for name in written]
    lines.append(f"{duration:.2f} s of audio, {words} words timed")
    stages = ", ".join(f"{name} {seconds:.2f}" for name, seconds in timings.items())
    total = sum(timings.values()) if total is None else total
    lines.append(f"stages (s): {stages}; total {total:.2f} s")
    return "\n".join(lines)


def report_failure(exc: Exception) -> int:
    """An error on stderr; exit code 2 for a bad argument or input, 1 for anything else."""
    if isinstance(exc, UserError):
        sys.stderr.write(f"error: {exc}\n")
        return 2
    sys.stderr.write(f"failed: {exc}\n")
    return 1
