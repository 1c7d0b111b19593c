"""The chunk flow: a voice reference and a text in, one `ChunkResult` per chunk out, in order.

    plan ── for each batch of chunks: generate ─ vocode ── for each chunk, in order: align ─ yield

`speak` is the one core every caller uses: the batch job (job.py) assembles all the chunks,
the CLI and `bench` go through the job or `synthesize`, and a streaming consumer can send
each chunk as it comes (the assembler holds back only the cross-fade tail).

Which chunks share a sampler call is decided here (`batches`): chunks of one length, as many
as the engine's `batch_frames` allow, the batch holding the earliest chunk first so that the
first chunk is ready as soon as possible. Results are yielded in text order whatever the
batches: a chunk waits only for the chunks before it.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from f5_runtime.engines.types import Audio, ChunkPlan, SynthesisOptions, Word
from f5_runtime.flow.assemble import Assembler, Piece, Timeline

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np

    from f5_runtime.engines import Engines
    from f5_runtime.engines.reference import PreparedReference
    from f5_runtime.flow.clock import StageClock


STREAM_FIRST_CHUNK_SCALE = 0.25  # a stream's first chunk: a quarter of the usual size


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


def batches(chunks: Sequence[ChunkPlan], batch_frames: int) -> list[list[int]]:
    """Chunk indices per sampler call: equal lengths only, at most `batch_frames` frames of
    windows per call (0: one chunk per call), ordered by the earliest chunk in each."""
    if batch_frames <= 0:
        return [[i] for i in range(len(chunks))]
    groups: dict[int, list[int]] = {}
    for i, chunk in enumerate(chunks):
        groups.setdefault(chunk.frames, []).append(i)
    out = []
    for indices in groups.values():
        size = max(1, batch_frames // chunks[indices[0]].window)
        out += [indices[k : k + size] for k in range(0, len(indices), size)]
    return sorted(out, key=lambda batch: batch[0])


def speak(engines: Engines, plan: SpeechPlan, clock: StageClock) -> Iterator[ChunkResult]:
    """Generate, vocode and align every chunk of `plan`; yield each, in order, when ready."""
    count = len(plan.chunks)
    timeline = Timeline(engines.sample_rate)
    ready: dict[int, tuple[np.ndarray, dict[str, float]]] = {}
    next_index = 0
    for batch in batches(plan.chunks, engines.batch_frames):
        clock.enter("generate", batch[0], count)
        t0 = time.perf_counter()
        generated = engines.generate([plan.chunks[i] for i in batch], plan.reference,
                                     plan.options, plan.seed)
        clock.enter("vocode", batch[0], count)
        t1 = time.perf_counter()
        waves = engines.vocode(generated)
        t2 = time.perf_counter()
        share = {"generate": (t1 - t0) / len(batch), "vocode": (t2 - t1) / len(batch)}
        for i, wave in zip(batch, waves, strict=True):
            ready[i] = (wave, dict(share))
        while next_index in ready:
            wave, timings = ready.pop(next_index)
            chunk = plan.chunks[next_index]
            clock.enter("align", next_index, count)
            t0 = time.perf_counter()
            words = engines.align(Audio(wave, engines.sample_rate), chunk.text, plan.language)
            timings["align"] = time.perf_counter() - t0
            yield ChunkResult(next_index, count, chunk.text, wave, engines.sample_rate,
                              timeline.place(len(wave)), words, timings)
            next_index += 1


@dataclass(frozen=True)
class Speech:
    """A whole synthesis, assembled: what the batch job and `bench` take."""

    audio: Audio
    words: list[Word]  # every word, timed on `audio`
    chunks: list[ChunkResult]
    seed: int
    calls: int  # sampler calls made (fewer than chunks when batched)


@dataclass(frozen=True)
class SpokenPiece:
    """What a streaming consumer sends: audio that is final now and its words, on the output."""

    piece: Piece  # samples from `piece.start` on, words placed on the output
    chunk: ChunkResult | None  # the chunk that released it; None for the held-back tail


def stream_speech(engines: Engines, plan: SpeechPlan, clock: StageClock
                  ) -> Generator[SpokenPiece, None, Speech]:
    """Every chunk of `plan` as it is ready, cross-faded (all but the tail the next chunk
    fades into), then the tail; returns the whole `Speech`. Stopping early (`close()`)
    generates nothing more."""
    assembler = Assembler(engines.sample_rate)
    chunks = []
    for chunk in speak(engines, plan, clock):
        clock.enter("assemble")
        piece = assembler.add(chunk.samples, chunk.words, chunk.start)
        chunks.append(chunk)
        yield SpokenPiece(piece, chunk)
    clock.enter("assemble")
    target = plan.options.target_duration
    yield SpokenPiece(assembler.finish(None if target is None
                                       else round(target * engines.sample_rate)), None)
    return Speech(assembler.audio, assembler.words, chunks, plan.seed,
                  len(batches(plan.chunks, engines.batch_frames)))


def synthesize(engines: Engines, plan: SpeechPlan, clock: StageClock,
               on_piece: Callable[[SpokenPiece], None] | None = None) -> Speech:
    """Every chunk of `plan`, assembled into one output (cut or padded to the dubbing target);
    `on_piece` sees each piece as it is released (a stream)."""
    pieces = stream_speech(engines, plan, clock)
    while True:
        try:
            spoken = next(pieces)
        except StopIteration as done:
            return done.value
        if on_piece is not None:
            on_piece(spoken)
