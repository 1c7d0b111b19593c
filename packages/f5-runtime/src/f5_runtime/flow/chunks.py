"""The chunk flow: a voice reference and a text in, one `ChunkResult` per chunk out, in order.

    plan ── for each batch of pending chunks: generate ─ vocode ── for each chunk: align ─ verify
                  (a chunk that fails goes back to the pending ones with the next seed)
         ── for each final chunk, in order: trim the output's edges ─ yield

`speak` is the one core every caller uses: the batch job (job.py) assembles all the chunks,
the CLI and `bench` go through the job or `synthesize`, and a streaming consumer can send
each chunk as it comes (the assembler holds back only the cross-fade tail).

Which chunks share a sampler call is decided here (`next_batch`): pending chunks of one
length and one attempt (one seed per call), as many as the engine's `batch_frames` allow,
the batch holding the earliest pending chunk first so that the first chunk is ready as soon as
possible; a regeneration joins the other pending chunks the same way. Whether a chunk is kept
or sampled again is the checker's decision (verify.py). Results are yielded in text order,
each once it is final (verified, or out of attempts): a chunk waits only for those before it.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from f5_runtime.engines.types import (
    Audio,
    ChunkPlan,
    ChunkQuality,
    SynthesisOptions,
    VerifyOptions,
    Word,
)
from f5_runtime.flow.assemble import Assembler, Timeline
from f5_runtime.flow.trim import trim_edges
from f5_runtime.flow.verify import Attempt, ChunkChecker, attempt_seed

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
    verify: VerifyOptions = field(default_factory=VerifyOptions)


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


Pending = tuple[int, int]  # (chunk index, attempt number): one sampling still to do


def next_batch(pending: Sequence[Pending], chunks: Sequence[ChunkPlan], batch_frames: int
               ) -> list[Pending]:
    """The next sampler call: the earliest pending chunk, with as many other pending chunks
    of its length and attempt (one seed per call) as `batch_frames` frames of windows hold
    (0: one chunk per call). `pending` is in text order."""
    head = pending[0]
    size = max(1, batch_frames // chunks[head[0]].window) if batch_frames > 0 else 1
    frames = chunks[head[0]].frames
    return [p for p in pending if p[1] == head[1] and chunks[p[0]].frames == frames][:size]


def batches(chunks: Sequence[ChunkPlan], batch_frames: int) -> list[list[int]]:
    """Chunk indices per sampler call when every chunk passes at its first attempt."""
    pending = [(i, 0) for i in range(len(chunks))]
    out = []
    while pending:
        batch = next_batch(pending, chunks, batch_frames)
        pending = [p for p in pending if p not in batch]
        out.append([i for i, _ in batch])
    return out


def speak(engines: Engines, plan: SpeechPlan, clock: StageClock) -> Iterator[ChunkResult]:
    """Generate, vocode, align and verify every chunk of `plan`, sampling a failed chunk again
    as the checker decides (verify.py); yield each, in order, once it is final."""
    count = len(plan.chunks)
    checker = ChunkChecker(engines, plan.verify, plan.language, clock)
    timeline = Timeline(engines.sample_rate)
    tried: dict[int, list[Attempt]] = {i: [] for i in range(count)}
    done: dict[int, Attempt] = {}
    pending: list[Pending] = [(i, 0) for i in range(count)]
    next_index = 0
    while pending:
        batch = next_batch(pending, plan.chunks, engines.batch_frames)
        pending = [p for p in pending if p not in batch]
        seed = attempt_seed(plan.seed, batch[0][1])
        clock.enter("generate", batch[0][0], count)
        t0 = time.perf_counter()
        generated = engines.generate([plan.chunks[i] for i, _ in batch], plan.reference,
                                     plan.options, seed)
        clock.enter("vocode", batch[0][0], count)
        t1 = time.perf_counter()
        waves = engines.vocode(generated)
        t2 = time.perf_counter()
        share = {"generate": (t1 - t0) / len(batch), "vocode": (t2 - t1) / len(batch)}
        for (i, attempt), wave in zip(batch, waves, strict=True):
            chunk = plan.chunks[i]
            clock.enter("align", i, count)
            t0 = time.perf_counter()
            words = engines.align(Audio(wave, engines.sample_rate), chunk.text, plan.language)
            t1 = time.perf_counter()
            verdict = checker.check(chunk, wave, words, i, count)
            timings = {**share, "align": t1 - t0}
            if checker.options.mode == "asr":
                timings["transcribe"] = time.perf_counter() - t1
            tried[i].append(Attempt(seed, wave, words, verdict, timings))
            if checker.next_seed(plan.seed, tried[i]) is not None:
                pending = sorted([*pending, (i, attempt + 1)])
            else:
                done[i] = checker.best(tried[i])
        while next_index in done:
            yield _result(plan, next_index, done.pop(next_index), tried.pop(next_index),
                          timeline, checker, engines.sample_rate)
            next_index += 1


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
    calls: int  # sampler calls planned (fewer than chunks when batched), regenerations aside

    @property
    def quality(self) -> list[ChunkQuality]:
        return [c.quality for c in self.chunks if c.quality is not None]


def synthesize(engines: Engines, plan: SpeechPlan, clock: StageClock) -> Speech:
    """Every chunk of `plan`, assembled into one output (cut or padded to the dubbing target)."""
    assembler = Assembler(engines.sample_rate)
    chunks = []
    for chunk in speak(engines, plan, clock):
        clock.enter("assemble")
        assembler.add(chunk.samples, chunk.words, chunk.start)
        chunks.append(chunk)
    clock.enter("assemble")
    target = plan.options.target_duration
    assembler.finish(None if target is None else round(target * engines.sample_rate))
    return Speech(assembler.audio, assembler.words, chunks, plan.seed,
                  len(batches(plan.chunks, engines.batch_frames)))
