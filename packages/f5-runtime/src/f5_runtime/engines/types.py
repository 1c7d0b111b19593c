"""The plain types every layer shares: audio, words, transcripts, synthesis options, chunk plans.

numpy only (and scipy inside `Audio.resampled`): importing this never imports torch, so the
service modules can use these types before (or without) the engines being loaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from f5_runtime.engines.reference import PreparedReference


@dataclass(frozen=True)
class Audio:
    """Mono float32 samples in [-1, 1] and their rate."""

    samples: np.ndarray  # shape (n,), float32
    sample_rate: int  # Hz

    @property
    def duration(self) -> float:  # seconds
        return len(self.samples) / self.sample_rate

    def resampled(self, rate: int) -> Audio:
        """Band-limited (polyphase) resampling to `rate` Hz; this audio itself when it matches."""
        if self.sample_rate == rate:
            return self
        from math import gcd

        import numpy as np
        from scipy.signal import resample_poly

        g = gcd(self.sample_rate, rate)
        out = resample_poly(self.samples, rate // g, self.sample_rate // g).astype(np.float32)
        return Audio(samples=out, sample_rate=rate)


@dataclass(frozen=True)
class Word:
    """One word as the user wrote it, with its time in seconds.

    Engines return times relative to the audio they were given, and None where the aligner
    found no time; the flow's assembler places the words on the output and gives every
    untimed word a time (f5_runtime.flow.assemble.place_words, the one place that does).
    """

    word: str
    start: float | None
    end: float | None
    score: float | None = None  # the aligner's confidence, 0-1; 0.0 for an interpolated word


@dataclass(frozen=True)
class Segment:
    """A stretch of a recording and what is said in it; word times relative to `start`."""

    start: float  # seconds from the start of the recording
    end: float
    text: str
    words: list[Word]


@dataclass(frozen=True)
class Transcript:
    """What speech recognition heard: the text, its language, and where it was said."""

    text: str
    language: str
    segments: list[Segment] = field(default_factory=list)


@dataclass(frozen=True)
class SynthesisOptions:
    """How to synthesize. These defaults are the API's defaults (api.request.Options uses them)."""

    nfe_steps: int = 32  # flow-matching steps; 16 uses f5-tts's EPSS schedule
    cfg_strength: float = 2.0  # classifier-free guidance
    sway_sampling_coef: float = -1.0  # f5-tts's sway sampling
    speed: float = 1.0  # > 1 speaks faster
    seed: int | None = None  # same seed + same request -> same audio
    target_duration: float | None = None  # seconds of generated speech (dubbing), or None
    # The first chunk's share of the usual chunk budget: streams set 0.25 so that the first
    # sound comes after a short chunk; 1.0 plans every chunk alike (the batch job).
    first_chunk_scale: float = 1.0
    # the language whose spoken forms the model reads ("$5" -> "five dollars", normalize.py);
    # None: the model reads the text as written
    normalize: str | None = None


@dataclass(frozen=True)
class VerifyOptions:
    """How each chunk is checked and, when it fails, sampled again (f5_runtime.flow.verify).
    These defaults are the API's defaults; docs/api.md explains each."""

    mode: str = "align"  # "off" | "align" (the alignment's own evidence) | "asr" (+ Whisper)
    max_attempts: int = 3  # samplings per chunk, the first included
    budget_seconds: float = 120.0  # per job: no new attempt starts once this much time is spent
    min_word_score: float = 0.1  # an aligned word scoring below this counts as not placed
    max_unplaced: float = 0.25  # fraction of a chunk's spoken words allowed to be not placed
    max_gap_seconds: float = 1.5  # longest pause allowed between words (or before the first)
    max_trailing_seconds: float = 1.2  # longest sound allowed after the last word
    min_rate: float = 0.5  # spoken span / chunk length, at least: words squeezed into less are
    # a rush or a skip, and the rest is babble or silence
    max_wer: float = 0.35  # "asr": word error rate of Whisper's transcript vs the spoken text


@dataclass(frozen=True)
class ChunkPlan:
    """One piece of the text and how long its speech will be."""

    text: str  # the words as the user wrote them (what the aligner times)
    model_text: str  # what the model reads: spoken forms when normalised, final punctuation
    # added to the last chunk
    frames: int  # mel frames generated after the reference
    window: int  # mel frames the sampler computes for it: the reference's + `frames`


@dataclass(frozen=True)
class ChunkWork:
    """One chunk to sample, with everything it needs: chunks of different jobs (references,
    seeds) share a sampler call when their `batch_key`s are equal."""

    chunk: ChunkPlan
    reference: PreparedReference
    options: SynthesisOptions
    seed: int  # seeds this chunk's own noise: the chunk is the same batched or alone

    @property
    def batch_key(self) -> tuple[int, float, float]:
        """What every chunk of one sampler call must share: steps, guidance, sway."""
        o = self.options
        return (o.nfe_steps, o.cfg_strength, o.sway_sampling_coef)


@dataclass(frozen=True)
class Rejection:
    """An attempt at a chunk that failed verification, and why."""

    seed: int
    reasons: list[str]  # one readable line per failed check


@dataclass(frozen=True)
class ChunkQuality:
    """What verification found for one chunk (the `quality` of the job result)."""

    text: str  # the chunk as written
    spoken: str  # what the model read (the spoken form when normalised)
    attempts: int  # samplings made, >= 1
    seed: int  # the seed of the attempt kept
    scores: dict[str, float]  # the kept attempt's measures (empty when not verified)
    rejected: list[Rejection]  # every attempt that failed, in order (the kept one too if so)
    passed: bool | None  # the kept attempt passed; None: not verified (verify "off")
