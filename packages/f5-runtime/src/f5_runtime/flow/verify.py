"""Verification: did a chunk say its words? And the one decision: keep it, or sample again.

F5-TTS has no explicit alignment, so it can swallow, repeat or garble words without noticing.
Every chunk is aligned anyway (its word timings), and the alignment is the evidence
(`judge`): words the aligner could not place or placed with a very low score, a long pause
between words, sound after the last word, words squeezed into a small part of the chunk
(speech far faster than the planned length, which follows the reference's rate). With
`verify: "asr"` Whisper also transcribes the chunk and its word error rate against the spoken
text is checked.

`ChunkChecker` is the one place that decides (`check`, then `next_seed`): another attempt
with the next seed of the job's deterministic sequence (`attempt_seed`) while the chunk fails,
up to `max_attempts` and within the job's time budget; then the best attempt is kept
(`best`), passed or not. The chunk flow (chunks.py) calls it and submits the next attempt to
the engine scheduler; transcription runs through `run` (the scheduler's device thread).
"""

from __future__ import annotations

import hashlib
import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from f5_runtime.engines.normalize import comparable_words
from f5_runtime.engines.types import Audio, ChunkPlan, Rejection, VerifyOptions, Word

if TYPE_CHECKING:
    import numpy as np

    from f5_runtime.engines import Engines
    from f5_runtime.flow.clock import StageClock

MODES = ("off", "align", "asr")


def attempt_seed(job_seed: int, attempt: int) -> int:
    """The seed of a chunk's `attempt` (0-based): the job's own seed first, then a fixed
    sequence derived from it, so that the same request always gives the same audio."""
    if attempt == 0:
        return job_seed
    digest = hashlib.sha256(f"f5-runtime:{job_seed}:{attempt}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 2**31


@dataclass(frozen=True)
class Verdict:
    passed: bool
    scores: dict[str, float]
    reasons: list[str]  # why it failed (empty when it passed)

    def rank(self) -> tuple[float, ...]:
        """Larger is better: passed, then fewer failed checks, then more words placed."""
        return (float(self.passed), -len(self.reasons), self.scores.get("placed", 0.0),
                -self.scores.get("wer", 0.0), self.scores.get("mean_score", 0.0))


@dataclass
class Attempt:
    """One sampling of a chunk: its audio, its words, what verification said."""

    seed: int
    samples: np.ndarray
    words: list[Word]
    verdict: Verdict | None  # None: not verified
    timings: dict[str, float] = field(default_factory=dict)


def judge(words: list[Word], duration: float, options: VerifyOptions,
          heard: list[str] | None = None, expected: list[str] | None = None) -> Verdict:
    """What the alignment of a chunk (`duration` s long) says about it; with `heard` (Whisper's
    words) and `expected` (the spoken words), the word error rate too."""
    reasons: list[str] = []
    words = [w for w in words if w.word.strip()]
    timed = [w for w in words if w.start is not None and w.end is not None
             and math.isfinite(w.start) and math.isfinite(w.end)]
    placed = [w for w in timed if (w.score if w.score is not None else 1.0)
              >= options.min_word_score]
    scores: dict[str, float] = {"placed": len(placed) / max(len(words), 1)}
    if timed:
        scores["mean_score"] = sum(w.score or 0.0 for w in timed) / len(timed)
    unplaced = len(words) - len(placed)
    if words and unplaced / len(words) > options.max_unplaced:
        reasons.append(f"{unplaced} of {len(words)} words not placed or scored below "
                       f"{options.min_word_score} (at most {options.max_unplaced:.0%} may be)")
    if placed:
        gaps = [(placed[0].start, placed[0].word)] + [  # type: ignore[list-item]
            (b.start - a.end, b.word) for a, b in itertools.pairwise(placed)]
        gap, before = max(gaps, key=lambda g: g[0])  # type: ignore[arg-type]
        trailing = max(duration - placed[-1].end, 0.0)  # type: ignore[operator]
        span = (placed[-1].end - placed[0].start) / max(duration, 1e-6)  # type: ignore[operator]
        scores.update(longest_gap=round(gap, 3), trailing=round(trailing, 3),
                      span=round(span, 3))
        if gap > options.max_gap_seconds:
            reasons.append(f"{gap:.1f} s pause before {before!r} "
                           f"(at most {options.max_gap_seconds} s)")
        if trailing > options.max_trailing_seconds:
            reasons.append(f"{trailing:.1f} s of sound after the last word "
                           f"(at most {options.max_trailing_seconds} s)")
        if span < options.min_rate:
            reasons.append(f"the words take {span:.0%} of the chunk (at least "
                           f"{options.min_rate:.0%}): spoken far faster than planned")
    if heard is not None and expected is not None:
        wer = word_error_rate(expected, heard)
        scores["wer"] = round(wer, 3)
        if wer > options.max_wer:
            reasons.append(f"word error rate {wer:.2f} against the spoken text "
                           f"(at most {options.max_wer})")
    return Verdict(not reasons, {k: round(v, 3) for k, v in scores.items()}, reasons)


def word_error_rate(expected: list[str], heard: list[str]) -> float:
    """(substitutions + deletions + insertions) / expected words (Levenshtein over words)."""
    previous = list(range(len(heard) + 1))
    for i, want in enumerate(expected, 1):
        current = [i]
        for j, got in enumerate(heard, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1,
                               previous[j - 1] + (want != got)))
        previous = current
    return previous[-1] / max(len(expected), 1)


class ChunkChecker:
    """Verifies attempts and decides on the next one, for one job (its time budget starts
    when the checker is made)."""

    def __init__(self, engines: Engines, options: VerifyOptions, language: str,
                 clock: StageClock | None = None,
                 run: Callable[[Callable[[], Any]], Any] | None = None):
        self.engines = engines
        self.run = run or (lambda fn: fn())  # runs engine work (the scheduler's `call`)
        self.options = options
        self.language = language
        self.clock = clock
        self.started = time.monotonic()

    @property
    def enabled(self) -> bool:
        return self.options.mode != "off"

    def check(self, chunk: ChunkPlan, samples: np.ndarray, words: list[Word],
              index: int = 0, count: int = 1) -> Verdict | None:
        """The verdict on one attempt (None when verification is off)."""
        if not self.enabled:
            return None
        audio = Audio(samples, self.engines.sample_rate)
        heard = expected = None
        if self.options.mode == "asr":
            if self.clock is not None:
                self.clock.enter("transcribe", index, count)
            transcript = self.run(lambda: self.engines.transcribe(audio, self.language))
            heard = comparable_words(transcript.text, self.language)
            expected = comparable_words(chunk.text, self.language)
        return judge(words, audio.duration, self.options, heard, expected)

    def next_seed(self, job_seed: int, attempts: list[Attempt]) -> int | None:
        """The seed to sample this chunk with next, or None: keep `best(attempts)`."""
        last = attempts[-1].verdict
        if last is None or last.passed or len(attempts) >= self.options.max_attempts:
            return None
        if time.monotonic() - self.started >= self.options.budget_seconds:
            return None
        return attempt_seed(job_seed, len(attempts))

    @staticmethod
    def best(attempts: list[Attempt]) -> Attempt:
        """The attempt to keep: the best verdict; the earliest among equals."""
        return max(attempts, key=lambda a: a.verdict.rank() if a.verdict else ())

    @staticmethod
    def rejections(attempts: list[Attempt]) -> list[Rejection]:
        return [Rejection(a.seed, list(a.verdict.reasons)) for a in attempts
                if a.verdict is not None and not a.verdict.passed]
