"""The chunk flow: a voice reference and a text in, one `ChunkResult` per chunk out, in order.

    plan ── every chunk to the engine scheduler ── as chunks come back: align ─ verify
                (scheduler.py: batched with      (a chunk that fails goes back to the
                 other jobs' chunks; generate ─   scheduler with the next seed)
                 vocode)
         ── for each final chunk, in order: trim the output's edges ─ yield

`speak` is the one core every caller uses: the batch job (job.py) assembles all the chunks,
the CLI and `bench` go through the job or `synthesize`, and a streaming consumer can send
each chunk as it comes (the assembler holds back only the cross-fade tail).

Which chunks share a sampler call is decided by the engine scheduler (scheduler.py), across
every running job; a regeneration is submitted to it like any chunk and joins whatever is
queued. Whether a chunk is kept or sampled again is the checker's decision (verify.py); every
attempt's seed comes from `attempt_seed`, and each chunk has its own noise, so the same
request gives the same audio however the chunks were batched. Results are yielded in text
order, each once it is final (verified, or out of attempts): a chunk waits only for those
before it. All engine work (generate, vocode, align, transcribe) runs on the scheduler's
device thread.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Generator, Iterator
from concurrent.futures import FIRST_COMPLETED
from concurrent.futures import wait as wait_any
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from f5_runtime.engines.types import (
    Audio,
    ChunkPlan,
    ChunkQuality,
    ChunkWork,
    SynthesisOptions,
    VerifyOptions,
    Word,
)
from f5_runtime.errors import JobCancelled
from f5_runtime.flow.assemble import Assembler, Piece, Timeline
from f5_runtime.flow.control import JobControl
from f5_runtime.flow.scheduler import scheduler_for
from f5_runtime.flow.trim import trim_edges
from f5_runtime.flow.verify import Attempt, ChunkChecker, attempt_seed

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np

    from f5_runtime.engines import Engines
    from f5_runtime.engines.reference import PreparedReference
    from f5_runtime.flow.clock import StageClock
    from f5_runtime.flow.scheduler import ChunkTicket, EngineScheduler


STREAM_FIRST_CHUNK_SCALE = 0.25  # a stream's first chunk: a quarter of the usual size


@dataclass(frozen=True)
class SpeechPlan:
    """What to say, in which voice, and how: the chunks are the engine's plan of the text."""

    reference: PreparedReference
    chunks: list[ChunkPlan]
    language: str
    options: SynthesisOptions
    seed: int  # the options' seed, or one drawn for this job (reported with the result)
    verify: VerifyOptions = field(default_factory=VerifyOptions)

    def work(self, index: int, seed: int) -> ChunkWork:
        """Chunk `index` to sample with `seed` (an attempt's seed: `attempt_seed`)."""
        return ChunkWork(self.chunks[index], self.reference, self.options, seed)


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
    quality: ChunkQuality | None = None  # what verification found, the attempts made

    @property
    def offset(self) -> float:
        """Seconds from the start of the output where this chunk begins."""
        return self.start / self.sample_rate

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


def plan_speech(engines: Engines, text: str, reference: PreparedReference, language: str,
                options: SynthesisOptions, verify: VerifyOptions | None = None) -> SpeechPlan:
    seed = options.seed if options.seed is not None else secrets.randbelow(2**31)
    return SpeechPlan(reference, engines.plan(text, reference, options), language, options, seed,
                      verify or VerifyOptions())


def speak(engines: Engines, plan: SpeechPlan, clock: StageClock,
          control: JobControl | None = None) -> Iterator[ChunkResult]:
    """Generate, vocode, align and verify every chunk of `plan`, sampling a failed chunk again
    as the checker decides (verify.py); yield each, in order, once it is final.

    Every chunk's first attempt is handed to the engines' scheduler at once (it batches them
    with other jobs' chunks; a stream's go a few ahead of its consumer: `control.lookahead`);
    this thread takes each sampled chunk as it comes back, aligns and verifies it, and submits
    the regenerations of one round together (so that they can share a sampler call). A
    consumer that stops early (closes the generator) or a stopped job drops the chunks not yet
    sampled."""
    scheduler = scheduler_for(engines)
    control = control or JobControl()
    job = control.job(scheduler)
    count = len(plan.chunks)
    checker = ChunkChecker(engines, plan.verify, plan.language, clock, run=scheduler.call)
    timeline = Timeline(engines.sample_rate)
    first = attempt_seed(plan.seed, 0)
    tickets: dict[int, ChunkTicket] = {}
    submitted = 0

    def submit_first_attempts(next_index: int) -> None:
        nonlocal submitted
        if control.lookahead is None:
            upto = count
        else:  # a stream's first chunk goes alone: the device would otherwise sample the
            # next one before aligning it, and the first is what its listener waits for
            upto = min(count, next_index + 1 + (control.lookahead if next_index else 0))
        if upto > submitted:
            firsts = [(i, plan.work(i, first)) for i in range(submitted, upto)]
            tickets.update(zip(range(submitted, upto), job.submit_each(firsts), strict=True))
            submitted = upto

    tried: dict[int, list[Attempt]] = {i: [] for i in range(count)}
    done: dict[int, Attempt] = {}
    next_index = 0
    finished = False
    try:
        submit_first_attempts(next_index)
        while next_index < count:
            announced = _wait_for_any(tickets, clock, count)
            again = []
            while (i := _first_sampled(tickets)) is not None:
                if i != announced:  # each chunk's stages are reported, in its turn
                    clock.enter("generate", i, count)
                announced = None
                attempt = _attempt(engines, scheduler, checker, plan, i, tickets.pop(i),
                                   control, clock)
                tried[i].append(attempt)
                seed = checker.next_seed(plan.seed, tried[i])
                if seed is None:
                    done[i] = checker.best(tried[i])
                else:
                    again.append((i, plan.work(i, seed)))
            tickets.update(zip([i for i, _ in again], job.submit_each(again), strict=True))
            while next_index in done:
                yield _result(plan, next_index, done.pop(next_index), tried.pop(next_index),
                              timeline, checker, engines.sample_rate)
                next_index += 1
            submit_first_attempts(next_index)
        finished = True
    finally:
        if not finished:
            job.cancel("the job stopped before its last chunk")


def _wait_for_any(tickets: dict[int, ChunkTicket], clock: StageClock, count: int) -> int:
    """Wait until one of the outstanding chunks is sampled or failed (the earliest names the
    stage; a failed sampler call fails its chunks during generate)."""
    head = min(tickets)
    clock.enter("generate", head, count)
    generated, _ = wait_any([t.generated for t in tickets.values()],
                            return_when=FIRST_COMPLETED)
    if any(f.exception() is None for f in generated):
        clock.enter("vocode", head, count)
        wait_any([t.done for t in tickets.values()], return_when=FIRST_COMPLETED)
    return head


def _first_sampled(tickets: dict[int, ChunkTicket]) -> int | None:
    """The earliest chunk whose ticket is settled (read again after each chunk: a batch's
    tickets are all settled before the device thread runs the next alignment)."""
    return min((i for i, t in tickets.items() if t.done.done()), default=None)


def _attempt(engines: Engines, scheduler: EngineScheduler, checker: ChunkChecker,
             plan: SpeechPlan, index: int, ticket: ChunkTicket, control: JobControl,
             clock: StageClock) -> Attempt:
    """A sampled chunk aligned (on the device thread) and verified."""
    count = len(plan.chunks)
    chunk = plan.chunks[index]
    if ticket.generated.exception() is None:  # (a failed sampler call fails during generate)
        clock.enter("vocode", index, count)
    wave = _wait(ticket.wave, control)
    clock.enter("align", index, count)
    t0 = time.perf_counter()
    words = scheduler.call(lambda: engines.align(Audio(wave, engines.sample_rate), chunk.text,
                                                 plan.language))
    t1 = time.perf_counter()
    verdict = checker.check(chunk, wave, words, index, count)
    timings = {**ticket.timings, "align": t1 - t0}
    if checker.options.mode == "asr":
        timings["transcribe"] = time.perf_counter() - t1
    return Attempt(ticket.work.seed, wave, words, verdict, timings)


def _wait(get, control: JobControl):
    """`get()` (a ticket's result); a stopped job raises its own error, not the scheduler's."""
    try:
        return get()
    except JobCancelled:
        control.check()
        raise


def _result(plan: SpeechPlan, index: int, kept: Attempt, attempts: list[Attempt],
            timeline: Timeline, checker: ChunkChecker, sample_rate: int) -> ChunkResult:
    """The chunk as it goes out: the kept attempt, the output's edges trimmed (not when
    dubbing: the length is the target's), the time of every attempt added up."""
    count = len(plan.chunks)
    chunk = plan.chunks[index]
    samples, words = kept.samples, kept.words
    if plan.options.target_duration is None and (index == 0 or index == count - 1):
        samples, words = trim_edges(
            samples, words, sample_rate, lead=index == 0, tail=index == count - 1,
            trust_words=kept.verdict is not None and kept.verdict.passed)
    timings: dict[str, float] = {}
    for a in attempts:
        for stage, seconds in a.timings.items():
            timings[stage] = timings.get(stage, 0.0) + seconds
    quality = ChunkQuality(
        text=chunk.text, spoken=chunk.model_text, attempts=len(attempts), seed=kept.seed,
        scores=dict(kept.verdict.scores) if kept.verdict else {},
        rejected=checker.rejections(attempts),
        passed=None if kept.verdict is None else kept.verdict.passed)
    return ChunkResult(index, count, chunk.text, samples, sample_rate,
                       timeline.place(len(samples)), words, timings, quality)


@dataclass(frozen=True)
class Speech:
    """A whole synthesis, assembled: what the batch job and `bench` take."""

    audio: Audio
    words: list[Word]  # every word, timed on `audio`
    chunks: list[ChunkResult]
    seed: int

    @property
    def quality(self) -> list[ChunkQuality]:
        return [c.quality for c in self.chunks if c.quality is not None]


@dataclass(frozen=True)
class SpokenPiece:
    """What a streaming consumer sends: audio that is final now and its words, on the output."""

    piece: Piece  # samples from `piece.start` on, words placed on the output
    chunk: ChunkResult | None  # the chunk that released it; None for the held-back tail


def stream_speech(engines: Engines, plan: SpeechPlan, clock: StageClock,
                  control: JobControl | None = None) -> Generator[SpokenPiece, None, Speech]:
    """Every chunk of `plan` as it is ready, cross-faded (all but the tail the next chunk
    fades into), then the tail; returns the whole `Speech`. Stopping early (`close()`) or
    stopping the job (`control`) drops the chunks not yet sampled."""
    assembler = Assembler(engines.sample_rate)
    chunks = []
    for chunk in speak(engines, plan, clock, control):
        clock.enter("assemble")
        piece = assembler.add(chunk.samples, chunk.words, chunk.start)
        chunks.append(chunk)
        yield SpokenPiece(piece, chunk)
    clock.enter("assemble")
    target = plan.options.target_duration
    yield SpokenPiece(assembler.finish(None if target is None
                                       else round(target * engines.sample_rate)), None)
    return Speech(assembler.audio, assembler.words, chunks, plan.seed)


def synthesize(engines: Engines, plan: SpeechPlan, clock: StageClock,
               control: JobControl | None = None,
               on_piece: Callable[[SpokenPiece], None] | None = None) -> Speech:
    """Every chunk of `plan`, assembled into one output (cut or padded to the dubbing target);
    `on_piece` sees each piece as it is released (a stream)."""
    pieces = stream_speech(engines, plan, clock, control)
    while True:
        try:
            spoken = next(pieces)
        except StopIteration as done:
            return done.value
        if on_piece is not None:
            on_piece(spoken)
