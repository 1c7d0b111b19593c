"""The chunk flow: a voice reference and a text in, one `ChunkResult` per chunk out, in order.

    plan ── every chunk to the engine scheduler ── for each chunk, in order: wait ─ align ─ yield
                (scheduler.py: batched with other jobs' chunks on the device; generate ─ vocode)

`speak` is the one core every caller uses: the batch job (job.py) assembles all the chunks,
the CLI and `bench` go through the job or `synthesize`, and a streaming consumer can send
each chunk as it comes (the assembler holds back only the cross-fade tail).

Which chunks share a sampler call is decided by the engine scheduler (scheduler.py), across
every running job. Results are yielded in text order whatever the batches: a chunk waits only
for the chunks before it.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from f5_runtime.engines.types import Audio, ChunkPlan, ChunkWork, SynthesisOptions, Word
from f5_runtime.errors import JobCancelled
from f5_runtime.flow.assemble import Assembler, Timeline
from f5_runtime.flow.control import JobControl
from f5_runtime.flow.scheduler import scheduler_for

if TYPE_CHECKING:
    import numpy as np

    from f5_runtime.engines import Engines
    from f5_runtime.engines.reference import PreparedReference
    from f5_runtime.flow.clock import StageClock


@dataclass(frozen=True)
class SpeechPlan:
    """What to say, in which voice, and how: the chunks are the engine's plan of the text."""

    reference: PreparedReference
    chunks: list[ChunkPlan]
    language: str
    options: SynthesisOptions
    seed: int  # the options' seed, or one drawn for this job (reported with the result)


@dataclass(frozen=True)
class ChunkResult:
    index: int  # 0-based, in text order
    count: int  # chunks in the job
    text: str  # the words this chunk spoke, as written
    samples: np.ndarray  # its audio, float32 at `sample_rate`, before cross-fading
    sample_rate: int
    start: int  # sample where it begins in the output (consecutive chunks overlap)
    words: list[Word]  # its words, times relative to its own start (None: not aligned)
    timings: dict[str, float] = field(default_factory=dict)  # its share of each stage, seconds

    @property
    def offset(self) -> float:
        """Seconds from the start of the output where this chunk begins."""
        return self.start / self.sample_rate

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


def plan_speech(engines: Engines, text: str, reference: PreparedReference, language: str,
                options: SynthesisOptions) -> SpeechPlan:
    seed = options.seed if options.seed is not None else secrets.randbelow(2**31)
    return SpeechPlan(reference, engines.plan(text, reference, options), language, options, seed)


def speak(engines: Engines, plan: SpeechPlan, clock: StageClock,
          control: JobControl | None = None) -> Iterator[ChunkResult]:
    """Generate, vocode and align every chunk of `plan`; yield each, in order, when ready.

    Every chunk is handed to the engines' scheduler at once (it batches them with other jobs'
    chunks); this thread waits for each in turn and aligns it. A consumer that stops early
    (closes the generator) or a stopped job drops the chunks not yet sampled."""
    scheduler = scheduler_for(engines)
    control = control or JobControl()
    job = control.job(scheduler)
    count = len(plan.chunks)
    tickets = job.submit_all([ChunkWork(chunk, plan.reference, plan.options, plan.seed)
                              for chunk in plan.chunks])
    timeline = Timeline(engines.sample_rate)
    finished = False
    try:
        for i, (chunk, ticket) in enumerate(zip(plan.chunks, tickets, strict=True)):
            clock.enter("generate", i, count)
            _wait(ticket.wait_generated, control)
            clock.enter("vocode", i, count)
            wave = _wait(ticket.wave, control)
            clock.enter("align", i, count)
            t0 = time.perf_counter()
            words = scheduler.call(lambda w=wave, c=chunk: engines.align(
                Audio(w, engines.sample_rate), c.text, plan.language))
            timings = {**ticket.timings, "align": time.perf_counter() - t0}
            yield ChunkResult(i, count, chunk.text, wave, engines.sample_rate,
                              timeline.place(len(wave)), words, timings)
        finished = True
    finally:
        if not finished:
            job.cancel("the job stopped before its last chunk")


def _wait(get, control: JobControl):
    """`get()` (a ticket's result); a stopped job raises its own error, not the scheduler's."""
    try:
        return get()
    except JobCancelled:
        control.check()
        raise


@dataclass(frozen=True)
class Speech:
    """A whole synthesis, assembled: what the batch job and `bench` take."""

    audio: Audio
    words: list[Word]  # every word, timed on `audio`
    chunks: list[ChunkResult]
    seed: int


def synthesize(engines: Engines, plan: SpeechPlan, clock: StageClock,
               control: JobControl | None = None) -> Speech:
    """Every chunk of `plan`, assembled into one output (cut or padded to the dubbing target)."""
    assembler = Assembler(engines.sample_rate)
    chunks = []
    for chunk in speak(engines, plan, clock, control):
        clock.enter("assemble")
        assembler.add(chunk.samples, chunk.words, chunk.start)
        chunks.append(chunk)
    clock.enter("assemble")
    target = plan.options.target_duration
    assembler.finish(None if target is None else round(target * engines.sample_rate))
    return Speech(assembler.audio, assembler.words, chunks, plan.seed)
