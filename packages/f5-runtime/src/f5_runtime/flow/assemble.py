"""Assembly: chunks into one output, words onto its timeline.

- `place_words` is the one place where word times are made final: shifted to where their
  audio lies in the output, kept in order and inside that audio, rounded to milliseconds, and
  every word the aligner could not time given one (the gap between its timed neighbours is
  shared by length). Synthesis chunks and a recording's segments (`place_segments`) both go
  through it.
- `Timeline` says where each chunk starts: consecutive chunks overlap by the cross-fade.
- `Assembler` joins chunks incrementally. `add` returns the audio that is final now (all but
  the tail the next chunk will cross-fade into) and the chunk's placed words, so a streaming
  consumer can send each chunk as it comes; `finish` returns the held-back tail. The batch
  job takes `audio` and `words` at the end: the same samples, joined once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from f5_runtime.engines.planning import CROSS_FADE_SECONDS
from f5_runtime.engines.types import Audio, Segment, Word

DECIMALS = 3  # word times are rounded to milliseconds
INTERPOLATED_SCORE = 0.0  # the score of a word whose time was interpolated, not aligned


def _timed(word: Word) -> bool:
    return (
        word.start is not None and word.end is not None
        and math.isfinite(word.start) and math.isfinite(word.end) and word.end >= word.start
    )


def place_words(words: Sequence[Word], offset: float, duration: float,
                after: float = 0.0) -> list[Word]:
    """`words` (times relative to a piece of audio `duration` s long, None where untimed)
    placed on the output where that piece starts at `offset`: every word timed, in order,
    no earlier than `after` (the previous piece's last word) and inside the piece."""
    words = [w for w in words if w.word.strip()]
    limit = math.floor((offset + duration) * 10**DECIMALS) / 10**DECIMALS  # rounding stays in
    cursor = min(max(offset, after), limit)  # where the next word may start
    out: list[Word] = []
    i = 0
    while i < len(words):
        w = words[i]
        if _timed(w):
            start = min(max(offset + w.start, cursor), limit)  # type: ignore[operator]
            end = min(max(offset + w.end, start), limit)  # type: ignore[operator]
            out.append(Word(w.word, start, end, w.score))
            cursor = end
            i += 1
            continue
        j = i  # the run of untimed words is words[i:j]
        while j < len(words) and not _timed(words[j]):
            j += 1
        right = limit
        if j < len(words):
            right = min(max(offset + words[j].start, cursor), limit)  # type: ignore[operator]
        weights = np.array([max(len(x.word), 1) for x in words[i:j]], dtype=float)
        shares = np.concatenate([[0.0], np.cumsum(weights)]) / weights.sum()
        edges = cursor + (right - cursor) * shares
        for k, x in enumerate(words[i:j]):
            out.append(Word(x.word, float(edges[k]), float(edges[k + 1]), INTERPOLATED_SCORE))
        cursor = right
        i = j
    return [Word(w.word, round(w.start, DECIMALS), round(w.end, DECIMALS),  # type: ignore[arg-type]
                 None if w.score is None else round(float(w.score), DECIMALS)) for w in out]


def place_segments(segments: Sequence[Segment], duration: float) -> list[Word]:
    """The words of a recording's segments (recognised or aligned), placed on the recording
    (`duration` s long): in order, each inside its segment."""
    words: list[Word] = []
    for segment in segments:
        end = min(segment.end, duration)
        after = words[-1].end if words else 0.0
        words += place_words(segment.words, segment.start, max(end - segment.start, 0.0), after)
    return words


class Timeline:
    """Where each chunk starts in the output (in samples): it overlaps the output so far by the
    cross-fade, or by less when either is shorter."""

    def __init__(self, sample_rate: int, fade_seconds: float = CROSS_FADE_SECONDS):
        self.fade = int(fade_seconds * sample_rate)
        self.end = 0  # samples in the output so far

    def overlap(self, length: int) -> int:
        return min(self.fade, self.end, length)

    def place(self, length: int) -> int:
        """The start of the next chunk of `length` samples (and the output grows by it)."""
        start = self.end - self.overlap(length)
        self.end = start + length
        return start


@dataclass(frozen=True)
class Piece:
    """What `Assembler.add`/`finish` releases: audio that will not change any more (it
    starts at `start` samples into the output) and words that are final."""

    start: int
    samples: np.ndarray
    words: list[Word]


class Assembler:
    def __init__(self, sample_rate: int, fade_seconds: float = CROSS_FADE_SECONDS):
        self.sample_rate = sample_rate
        self.timeline = Timeline(sample_rate, fade_seconds)
        self._released: list[np.ndarray] = []
        self._sent = 0  # samples released so far
        self._tail = np.zeros(0, dtype=np.float32)  # the last chunk's end, still to be faded
        self._words: list[Word] = []

    def add(self, samples: np.ndarray, words: Sequence[Word], start: int | None = None) -> Piece:
        """Join the next chunk (its words timed relative to its own start). `start` is where
        the chunk begins in the output, as `Timeline.place` said (placed here when None)."""
        samples = samples.astype(np.float32, copy=False)
        n = self.timeline.overlap(len(samples))
        placed_start = self.timeline.place(len(samples))
        if start is not None and start != placed_start:
            raise ValueError(f"chunk placed at {start}, expected {placed_start}: chunks in order")
        joined = self._tail
        if n:
            ramp = np.linspace(0.0, 1.0, n, dtype=np.float32)
            mixed = joined[-n:] * (1 - ramp) + samples[:n] * ramp
            joined = np.concatenate([joined[:-n], mixed, samples[n:]])
        else:
            joined = np.concatenate([joined, samples])
        keep = min(self.timeline.fade, len(joined))  # the next chunk may fade into this much
        piece = self._release(joined[: len(joined) - keep])
        self._tail = joined[len(joined) - keep :]
        after = self._words[-1].end if self._words else 0.0
        placed = place_words(words, placed_start / self.sample_rate,
                             len(samples) / self.sample_rate, after)
        self._words.extend(placed)
        return Piece(piece.start, piece.samples, placed)

    def finish(self, target_samples: int | None = None) -> Piece:
        """Release the tail; with `target_samples` (dubbing) the output is padded with silence
        or cut to exactly that length, and the words are kept inside it."""
        tail, self._tail = self._tail, np.zeros(0, dtype=np.float32)
        if target_samples is not None:
            room = target_samples - self._sent
            tail = np.pad(tail, (0, max(0, room - len(tail))))[: max(room, 0)]
            if room < 0:  # released audio already passes the target: cut it
                self._cut(target_samples)
            limit = target_samples / self.sample_rate
            self._words = [_clamp(w, limit) for w in self._words]
        return self._release(tail)

    @property
    def audio(self) -> Audio:
        """Everything released so far, as one signal (call after `finish`)."""
        samples = (np.concatenate(self._released) if self._released
                   else np.zeros(0, dtype=np.float32))
        return Audio(samples, self.sample_rate)

    @property
    def words(self) -> list[Word]:
        return list(self._words)

    def _release(self, samples: np.ndarray) -> Piece:
        piece = Piece(self._sent, samples, [])
        if len(samples):
            self._released.append(samples)
            self._sent += len(samples)
        return piece

    def _cut(self, length: int) -> None:
        whole = np.concatenate(self._released)[:length] if self._released else np.zeros(0)
        self._released, self._sent = [whole.astype(np.float32)], len(whole)


def _clamp(word: Word, limit: float) -> Word:
    limit = math.floor(limit * 10**DECIMALS) / 10**DECIMALS
    start = min(word.start, limit)  # type: ignore[type-var]
    return Word(word.word, start, min(max(word.end, start), limit), word.score)  # type: ignore[type-var]
