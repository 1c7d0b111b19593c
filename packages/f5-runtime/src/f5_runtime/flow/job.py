"""One job: validate -> fetch -> reference -> chunks -> assemble -> encode -> subtitles -> publish.

The reference is prepared from the request's recording, or is a named voice from the voice
library (prepared when it was registered: no fetch, decoding, clipping or ASR). A voice
management job (`voice_action`) goes to voice_actions.py after validation.

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
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from f5_runtime.api.request import DEFAULT_LANGUAGE, JobRequest, Limits, check_languages_served
from f5_runtime.api.result import JobResult
from f5_runtime.api.voices import VoiceAction, VoiceActionResult, parse_input
from f5_runtime.engines.types import ChunkQuality, Segment, Word
from f5_runtime.flow.assemble import place_segments
from f5_runtime.flow.chunks import (
    STREAM_FIRST_CHUNK_SCALE,
    SpokenPiece,
    plan_speech,
    synthesize,
)
from f5_runtime.flow.clock import Stage, StageCallback, StageClock
from f5_runtime.flow.control import JobControl
from f5_runtime.flow.inputs import input_duration, job_workdir, load_input
from f5_runtime.flow.voice_actions import run_voice_action
from f5_runtime.io import audio as audio_io
from f5_runtime.io.outputs import Publisher, choose_output
from f5_runtime.io.s3 import WRITE_CHECK
from f5_runtime.io.subtitles import CONTENT_TYPES as SUBTITLE_TYPES
from f5_runtime.io.subtitles import render as render_subtitles

if TYPE_CHECKING:
    from f5_runtime.config import Settings
    from f5_runtime.engines import Engines
    from f5_runtime.io.inputs import Inputs
    from f5_runtime.io.storage import Storage
    from f5_runtime.voices.library import VoiceLibrary

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


PieceCallback = Callable[[SpokenPiece], None]


def produce(request: JobRequest, *, engines: Engines, inputs: Inputs, workdir: Path,
            limits: Limits, clock: StageClock, voices: VoiceLibrary | None = None,
            on_piece: PieceCallback | None = None, control: JobControl | None = None
            ) -> Artifacts:
    """Fetch the inputs, run the engines, assemble, encode the audio, render subtitles.
    `voices` resolves a request's `voice` (required when the request names one); `on_piece`
    is given each piece of speech as the assembler releases it (a stream); `control` stops
    the job from outside (control.py)."""
    if request.kind == "synthesize":
        artifacts = _synthesize(request, engines, inputs, workdir, limits, clock, voices,
                                on_piece, control)
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
                limits: Limits, clock: StageClock, voices: VoiceLibrary | None,
                on_piece: PieceCallback | None, control: JobControl | None) -> Artifacts:
    assert request.text is not None
    url = request.voice_reference_url
    if url is not None or request.audio_url is not None:
        clock.enter("fetch")
    voice = (load_input(inputs, url, workdir, "voice reference", limits)
             if url is not None else None)
    target = (input_duration(inputs, request.audio_url, workdir, "source audio", limits)
              if request.audio_url is not None else None)
    language = request.language or DEFAULT_LANGUAGE
    clock.enter("reference")
    if voice is not None:
        reference = engines.prepare_reference(voice, request.voice_reference_text,
                                              request.reference_language())
    else:
        assert voices is not None, "a job naming a voice needs the voice library"
        reference = voices.resolve(request.voice, language).reference
    clock.enter("generate")  # planning the chunks is the first step of generating them
    options = request.synthesis_options(target)
    if on_piece is not None:  # a stream: the first chunk short, for a fast first sound
        options = replace(options, first_chunk_scale=STREAM_FIRST_CHUNK_SCALE)
    plan = plan_speech(engines, request.text, reference, language, options,
                       request.verify_options())
    speech = synthesize(engines, plan, clock, control, on_piece)
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


def run_job(raw_input: Any, job_id: str, *, engines: Engines, storage: Storage,
            settings: Settings, on_stage: StageCallback | None = None,
            voices: VoiceLibrary | None = None, on_piece: PieceCallback | None = None,
            control: JobControl | None = None) -> JobResult | VoiceActionResult:
    """The endpoint's job: a request in, published outputs out (or an exception, nothing left).
    A voice management job returns what its action did. With `on_piece`, a synthesis also
    hands over its speech piece by piece as it is made. `control` lets the caller stop it
    from another thread (control.py)."""
    control = control or JobControl()

    def staged(stage: Stage) -> None:
        control.check()  # a stopped job goes no further
        if on_stage is not None:
            on_stage(stage)

    clock = StageClock(staged)
    clock.enter("validate")  # everything that can be known before the GPU works
    limits = Limits.from_settings(settings)
    request = parse_input(raw_input, limits)
    if isinstance(request, VoiceAction):
        assert voices is not None, "voice actions need the voice library"
        return run_voice_action(request, job_id, voices=voices, inputs=storage.inputs,
                                settings=settings, clock=clock, limits=limits)
    check_languages_served(request, settings.languages)
    place = choose_output(settings, job_id, request.output_bucket(), request.input_urls())
    if place is not None:
        # a job stopped while its thread is still in the check leaves no check object behind
        control.on_stop(lambda: storage.s3.delete(place, WRITE_CHECK, quiet=True))
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
                                workdir=workdir, limits=limits, clock=clock, voices=voices,
                                on_piece=on_piece, control=control)
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
