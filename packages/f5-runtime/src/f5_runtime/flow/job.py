"""One job: validate -> fetch -> reference -> chunks -> assemble -> encode -> subtitles -> publish.

`produce` does the work and returns the artifacts (the CLI writes them to local files);
`run_job` adds validation, output placement and publishing for the endpoint. The engines are
reached only through the `Engines` protocol, so this module (and everything the worker imports
before the engines load) never imports torch. The stage clock (clock.py) times every stage;
the timings add up to `processing_time`. The job's temp directory is removed and, when a step
after an upload fails, the uploaded outputs are deleted.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from f5_runtime.api.request import (
    DEFAULT_LANGUAGE,
    JobRequest,
    Limits,
    check_languages_served,
    parse_request,
)
from f5_runtime.api.result import JobResult
from f5_runtime.engines.types import Audio, ChunkQuality, Segment, Word
from f5_runtime.errors import InputError
from f5_runtime.flow.assemble import place_segments
from f5_runtime.flow.chunks import plan_speech, synthesize
from f5_runtime.flow.clock import Stage, StageCallback, StageClock
from f5_runtime.flow.control import JobControl
from f5_runtime.io import audio as audio_io
from f5_runtime.io.outputs import Publisher, choose_output
from f5_runtime.io.subtitles import CONTENT_TYPES as SUBTITLE_TYPES
from f5_runtime.io.subtitles import render as render_subtitles
from f5_runtime.io.urls import safe_job_id

if TYPE_CHECKING:
    from f5_runtime.config import Settings
    from f5_runtime.engines import Engines
    from f5_runtime.io.inputs import Inputs
    from f5_runtime.io.storage import Storage

log = logging.getLogger(__name__)


@dataclass
class Artifacts:
    """What a job produced, before it is published."""

    kind: str
    language: str
    text: str
    words: list[Word]  # every word timed, on the output (synthesize) or the recording
    duration: float
    sample_rate: int
    audio: bytes | None = None  # encoded output audio (synthesize)
    audio_format: str | None = None
    subtitles: bytes | None = None
    subtitle_format: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    quality: list[ChunkQuality] | None = None  # synthesize: verification, per chunk


def load_input(inputs: Inputs, url: str, workdir: Path, what: str, limits: Limits) -> Audio:
    """Fetch one input and decode it (never past the duration limit); InputError when it is
    not usable audio."""
    path = inputs.fetch(url, workdir / what.replace(" ", "_"), what=what)
    audio = audio_io.decode(path.read_bytes(), what=what, max_seconds=limits.max_audio_seconds)
    _check_not_too_short(what, audio.duration)
    return audio


def input_duration(inputs: Inputs, url: str, workdir: Path, what: str, limits: Limits
                   ) -> float:
    """Fetch one input and read only its length (the dubbing source: its samples are unused)."""
    path = inputs.fetch(url, workdir / what.replace(" ", "_"), what=what)
    seconds = audio_io.duration(path.read_bytes(), what=what,
                                max_seconds=limits.max_audio_seconds)
    _check_not_too_short(what, seconds)
    return seconds


def _check_not_too_short(what: str, seconds: float) -> None:
    if seconds < 0.1:
        raise InputError(f"{what} is {seconds * 1000:.0f} ms long: too short to use")


def produce(request: JobRequest, *, engines: Engines, inputs: Inputs, workdir: Path,
            limits: Limits, clock: StageClock, control: JobControl | None = None) -> Artifacts:
    """Fetch the inputs, run the engines, assemble, encode the audio, render subtitles."""
    if request.kind == "synthesize":
        artifacts = _synthesize(request, engines, inputs, workdir, limits, clock, control)
    else:
        artifacts = _subtitle(request, engines, inputs, workdir, limits, clock)
    if request.options.create_subtitles:
        clock.enter("subtitles")
        opts = request.subtitle_options()
        artifacts.subtitles = render_subtitles(artifacts.words, opts)
        artifacts.subtitle_format = opts.format
    artifacts.timings = clock.timings
    return artifacts


def _synthesize(request: JobRequest, engines: Engines, inputs: Inputs, workdir: Path,
                limits: Limits, clock: StageClock, control: JobControl | None) -> Artifacts:
    assert request.voice_reference_url is not None and request.text is not None
    clock.enter("fetch")
    voice = load_input(inputs, request.voice_reference_url, workdir, "voice reference", limits)
    target = (input_duration(inputs, request.audio_url, workdir, "source audio", limits)
              if request.audio_url is not None else None)
    language = request.language or DEFAULT_LANGUAGE
    clock.enter("reference")
    reference = engines.prepare_reference(voice, request.voice_reference_text,
                                          request.reference_language())
    clock.enter("generate")  # planning the chunks is the first step of generating them
    options = request.synthesis_options(target)
    plan = plan_speech(engines, request.text, reference, language, options,
                       request.verify_options())
    speech = synthesize(engines, plan, clock, control)
    clock.enter("encode")
    fmt = request.options.output_format
    encoded = audio_io.encode(speech.audio, fmt)
    return Artifacts(kind="synthesize", language=language, text=request.text, words=speech.words,
                     duration=speech.audio.duration, sample_rate=speech.audio.sample_rate,
                     audio=encoded, audio_format=fmt, quality=speech.quality)


def _subtitle(request: JobRequest, engines: Engines, inputs: Inputs, workdir: Path,
              limits: Limits, clock: StageClock) -> Artifacts:
    assert request.audio_url is not None
    clock.enter("fetch")
    recording = load_input(inputs, request.audio_url, workdir, "audio", limits)
    if request.text is not None:
        language, text = request.language or DEFAULT_LANGUAGE, request.text
        clock.enter("align")
        segments = [Segment(0.0, recording.duration, text,
                            engines.align(recording, text, language))]
    else:
        clock.enter("transcribe")
        transcript = engines.transcribe(recording, request.language)
        text, language, segments = transcript.text, transcript.language, transcript.segments
    clock.enter("assemble")
    words = place_segments(segments, recording.duration)
    return Artifacts(kind="subtitle", language=language, text=text, words=words,
                     duration=recording.duration, sample_rate=recording.sample_rate)


def output_name(kind: str, fmt: str, *, subtitles: bool = False) -> str:
    """The file name of an output: speech.<fmt> for a synthesis's audio and subtitles,
    subtitles.<fmt> for a subtitled recording."""
    stem = "subtitles" if subtitles and kind != "synthesize" else "speech"
    return f"{stem}.{fmt}"


def publish(artifacts: Artifacts, publisher: Publisher) -> JobResult:
    audio = subtitles = None
    if artifacts.audio is not None and artifacts.audio_format is not None:
        fmt = artifacts.audio_format
        audio = publisher.publish(output_name(artifacts.kind, fmt), artifacts.audio,
                                  audio_io.CONTENT_TYPES[fmt])
    if artifacts.subtitles is not None and artifacts.subtitle_format is not None:
        fmt = artifacts.subtitle_format
        subtitles = publisher.publish(output_name(artifacts.kind, fmt, subtitles=True),
                                      artifacts.subtitles,
                                      SUBTITLE_TYPES[fmt] + "; charset=utf-8", text=True)
    return JobResult(
        kind=artifacts.kind, duration=artifacts.duration, sample_rate=artifacts.sample_rate,
        language=artifacts.language, text=artifacts.text, word_timings=artifacts.words,
        audio=audio, audio_format=artifacts.audio_format if audio else None,
        subtitles=subtitles, subtitle_format=artifacts.subtitle_format if subtitles else None,
        quality=artifacts.quality,
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
            settings: Settings, on_stage: StageCallback | None = None,
            control: JobControl | None = None) -> JobResult:
    """The endpoint's job: a request in, published outputs out (or an exception, nothing left).
    `control` lets the caller stop it from another thread (control.py)."""
    control = control or JobControl()

    def staged(stage: Stage) -> None:
        control.check()  # a stopped job goes no further
        if on_stage is not None:
            on_stage(stage)

    clock = StageClock(staged)
    clock.enter("validate")  # everything that can be known before the GPU works
    limits = Limits.from_settings(settings)
    request = parse_request(raw_input, limits)
    check_languages_served(request, settings.languages)
    place = choose_output(settings, job_id, request.output_bucket(), request.input_urls())
    if place is not None:
        storage.s3.check_writable(place)
    log.info("job %s: %s%s, output %s", job_id, request.kind,
             " (dubbing)" if request.is_dubbing else "",
             place.url("") if place else "inline")
    publisher = storage.publisher(place)
    control.on_stop(publisher.rollback)
    try:
        with job_workdir(settings, job_id) as workdir:
            control.on_stop(lambda: shutil.rmtree(workdir, ignore_errors=True))
            artifacts = produce(request, engines=engines, inputs=storage.inputs,
                                workdir=workdir, limits=limits, clock=clock, control=control)
            clock.enter("publish")
            result = publish(artifacts, publisher)
    except BaseException:
        publisher.rollback()
        raise
    processing_time = clock.stop()
    result = replace(result, processing_time=processing_time, timings=dict(clock.timings))
    log.info("job %s done in %.3f s: %s", job_id, result.processing_time,
             ", ".join(f"{k} {v:.3f}" for k, v in result.timings.items()))
    return result
