"""One job: validate -> fetch -> engines (synthesize | align | transcribe) -> subtitles -> publish.

The engines are reached only through the `Engines` protocol, so this module (and everything
the worker imports before the engines load) never imports torch. `produce` does the work and
returns the artifacts; `run_job` adds validation, output placement and publishing for the
endpoint, while the CLI writes the artifacts to local files. Each stage's wall time goes into
`timings`, the whole job's into `processing_time`. The job's temp directory is removed and,
when a step after an upload fails, the uploaded outputs are deleted.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from f5_runtime import audio as audio_io
from f5_runtime.engines import Audio, Engines, StageCallback, SynthesisOptions, Word
from f5_runtime.errors import InputError, ValidationError
from f5_runtime.schema import JobRequest, JobResult, Limits, WordTiming, parse_request
from f5_runtime.storage import Publisher, Storage, choose_output, safe_job_id
from f5_runtime.subtitles import CONTENT_TYPES as SUBTITLE_TYPES
from f5_runtime.subtitles import SubtitleOptions, fill_missing_times
from f5_runtime.subtitles import render as render_subtitles

if TYPE_CHECKING:
    from f5_runtime.config import Settings

log = logging.getLogger(__name__)

DEFAULT_LANGUAGE = "en"  # synthesis and alignment when the request names none


class StageClock:
    """Wall time per named stage, and the stage callback fired as each one starts."""

    def __init__(self, on_stage: StageCallback | None = None):
        self.on_stage = on_stage
        self.timings: dict[str, float] = {}
        self.started = time.perf_counter()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        if self.on_stage is not None:
            self.on_stage(name)
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - t0

    def add(self, timings: dict[str, float]) -> None:
        """Engine-internal stages (e.g. reference preparation), without overwriting ours."""
        for name, seconds in timings.items():
            self.timings.setdefault(name, seconds)

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started


@dataclass
class Artifacts:
    """What a job produced, before it is published."""

    kind: str
    language: str
    text: str
    words: list[Word]
    duration: float
    sample_rate: int
    audio: bytes | None = None  # encoded output audio (synthesize)
    audio_format: str | None = None
    subtitles: bytes | None = None
    subtitle_format: str | None = None
    timings: dict[str, float] = field(default_factory=dict)


def subtitle_options(request: JobRequest) -> SubtitleOptions:
    o = request.options
    return SubtitleOptions(format=o.subtitle_format, karaoke=o.karaoke,
                           max_line_chars=o.max_line_chars, max_lines=o.max_lines,
                           max_event_seconds=o.max_event_seconds)


def synthesis_options(request: JobRequest, target_duration: float | None) -> SynthesisOptions:
    o = request.options
    return SynthesisOptions(nfe_steps=o.nfe_steps, cfg_strength=o.cfg_strength,
                            sway_sampling_coef=o.sway_sampling_coef, speed=o.speed, seed=o.seed,
                            target_duration=target_duration)


def load_input(storage: Storage, url: str, workdir: Path, what: str, limits: Limits) -> Audio:
    """Fetch one input and decode it (never past the duration limit); InputError when it is
    not usable audio."""
    path = storage.fetch(url, workdir / what.replace(" ", "_"), what=what)
    audio = audio_io.decode(path.read_bytes(), what=what, max_seconds=limits.max_audio_seconds)
    _check_not_too_short(what, audio.duration)
    return audio


def input_duration(storage: Storage, url: str, workdir: Path, what: str, limits: Limits
                   ) -> float:
    """Fetch one input and read only its length (the dubbing source: its samples are unused)."""
    path = storage.fetch(url, workdir / what.replace(" ", "_"), what=what)
    seconds = audio_io.duration(path.read_bytes(), what=what,
                                max_seconds=limits.max_audio_seconds)
    _check_not_too_short(what, seconds)
    return seconds


def _check_not_too_short(what: str, seconds: float) -> None:
    if seconds < 0.1:
        raise InputError(f"{what} is {seconds * 1000:.0f} ms long: too short to use")


def produce(request: JobRequest, *, engines: Engines, storage: Storage, workdir: Path,
            limits: Limits, clock: StageClock) -> Artifacts:
    """Fetch the inputs, run the engines, render subtitles, encode the audio."""
    if request.kind == "synthesize":
        artifacts = _synthesize(request, engines, storage, workdir, limits, clock)
    else:
        artifacts = _subtitle(request, engines, storage, workdir, limits, clock)
    if request.options.create_subtitles:
        with clock.stage("subtitles"):
            opts = subtitle_options(request)
            artifacts.subtitles = render_subtitles(artifacts.words, artifacts.duration, opts)
            artifacts.subtitle_format = opts.format
    artifacts.timings = clock.timings
    return artifacts


def _synthesize(request: JobRequest, engines: Engines, storage: Storage, workdir: Path,
                limits: Limits, clock: StageClock) -> Artifacts:
    assert request.voice_reference_url is not None and request.text is not None
    with clock.stage("fetch"):
        reference = load_input(storage, request.voice_reference_url, workdir,
                               "voice reference", limits)
        target = (input_duration(storage, request.audio_url, workdir, "source audio", limits)
                  if request.audio_url is not None else None)
    language = request.language or DEFAULT_LANGUAGE
    with clock.stage("synthesize"):
        speech = engines.synthesize(
            request.text, reference, request.voice_reference_text, language,
            synthesis_options(request, target),
            on_stage=clock.on_stage, reference_language=request.voice_reference_language,
        )
    clock.add(speech.timings)
    with clock.stage("encode"):
        fmt = request.options.output_format
        encoded = audio_io.encode(speech.audio, fmt)
    words = fill_missing_times(speech.words, speech.audio.duration)
    return Artifacts(kind="synthesize", language=language, text=request.text, words=words,
                     duration=speech.audio.duration, sample_rate=speech.audio.sample_rate,
                     audio=encoded, audio_format=fmt)


def _subtitle(request: JobRequest, engines: Engines, storage: Storage, workdir: Path,
              limits: Limits, clock: StageClock) -> Artifacts:
    assert request.audio_url is not None
    with clock.stage("fetch"):
        recording = load_input(storage, request.audio_url, workdir, "audio", limits)
    if request.text is not None:
        language = request.language or DEFAULT_LANGUAGE
        text = request.text
        with clock.stage("align"):
            words = engines.align(recording, text, language)
    else:
        with clock.stage("transcribe"):
            transcript = engines.transcribe(recording, request.language)
        text, language, words = transcript.text, transcript.language, transcript.words
    return Artifacts(kind="subtitle", language=language, text=text,
                     words=fill_missing_times(words, recording.duration),
                     duration=recording.duration, sample_rate=recording.sample_rate)


def publish(artifacts: Artifacts, publisher: Publisher, clock: StageClock) -> JobResult:
    audio = subtitles = None
    with clock.stage("publish"):
        stem = "speech" if artifacts.kind == "synthesize" else "subtitles"
        if artifacts.audio is not None and artifacts.audio_format is not None:
            audio = publisher.publish(f"speech.{artifacts.audio_format}", artifacts.audio,
                                      audio_io.CONTENT_TYPES[artifacts.audio_format])
        if artifacts.subtitles is not None and artifacts.subtitle_format is not None:
            fmt = artifacts.subtitle_format
            subtitles = publisher.publish(f"{stem}.{fmt}", artifacts.subtitles,
                                          SUBTITLE_TYPES[fmt] + "; charset=utf-8", text=True)
    return JobResult(
        kind=artifacts.kind, duration=artifacts.duration, sample_rate=artifacts.sample_rate,
        language=artifacts.language, text=artifacts.text,
        word_timings=[WordTiming(w.word, w.start or 0.0, w.end or 0.0, w.score)
                      for w in artifacts.words],
        audio=audio, audio_format=artifacts.audio_format if audio else None,
        subtitles=subtitles, subtitle_format=artifacts.subtitle_format if subtitles else None,
        timings=dict(clock.timings),
    )


def check_languages_served(request: JobRequest, settings: Settings) -> None:
    """The languages this job needs an aligner for are among F5_LANGUAGES (fetched and loaded
    at start): otherwise the job would fail only after sampling. A transcription's language is
    only Whisper's hint (any of Whisper's languages; untimed words are spread by length)."""
    needed = {"language": request.language or DEFAULT_LANGUAGE}
    if request.kind == "subtitle" and request.text is None:
        needed = {}
    if request.voice_reference_language is not None:
        needed["voice_reference_language"] = request.voice_reference_language
    served = settings.languages
    for field_name, language in needed.items():
        if language not in served:
            raise ValidationError(
                f"input.{field_name}: {language!r} is not served by this endpoint (it serves "
                f"{', '.join(served)}): send one of those, or ask its operator to add it to "
                "F5_LANGUAGES and fetch its models"
            )


@contextmanager
def job_workdir(settings: Settings, job_id: str) -> Iterator[Path]:
    """The job's own directory on local disk, removed when the job ends, whatever happened."""
    tmp_root = settings.tmp_dir
    if tmp_root is not None:
        tmp_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"f5-job-{safe_job_id(job_id)}-",
                                     dir=tmp_root, ignore_cleanup_errors=True) as path:
        yield Path(path)


def run_job(raw_input: Any, job_id: str, *, engines: Engines, storage: Storage,
            settings: Settings, on_stage: StageCallback | None = None) -> JobResult:
    """The endpoint's job: a request in, published outputs out (or an exception, nothing left)."""
    clock = StageClock(on_stage)
    limits = Limits.from_settings(settings)
    with clock.stage("validate"):  # everything that can be known before the GPU works
        request = parse_request(raw_input, limits)
        check_languages_served(request, settings)
        place = choose_output(request, settings, job_id)
        if place is not None:
            storage.check_writable(place)
    log.info("job %s: %s%s, output %s", job_id, request.kind,
             " (dubbing)" if request.is_dubbing else "",
             place.url("") if place else "inline")
    publisher = Publisher(storage, place)
    with job_workdir(settings, job_id) as workdir:
        try:
            artifacts = produce(request, engines=engines, storage=storage, workdir=workdir,
                                limits=limits, clock=clock)
            result = publish(artifacts, publisher, clock)
        except BaseException:
            publisher.rollback()
            raise
    result = replace(result, processing_time=clock.elapsed)
    log.info("job %s done in %.3f s: %s", job_id, result.processing_time,
             ", ".join(f"{k} {v:.3f}" for k, v in result.timings.items()))
    return result

