"""Trim what should not be there: silence or noise before the first word and after the last.

F5-TTS often starts a chunk with a short delay or noise and ends it with a tail (users report
0.3-0.5 s). Only the output's edges are trimmed (the first chunk's start, the last chunk's
end), down to a small margin, and the words are shifted to match. Where the words were
verified, they say where speech is (noise included in what is cut); otherwise only quiet
audio (below `QUIET` of the chunk's peak level) is cut.
"""

from __future__ import annotations

import numpy as np

from f5_runtime.engines.types import Word

LEAD_MARGIN_SECONDS = 0.1  # kept before the first word
TAIL_MARGIN_SECONDS = 0.15  # kept after the last word
QUIET = 0.05  # of the chunk's loudest 10 ms: below this a frame counts as silence
FRAME_SECONDS = 0.01


def trim_edges(samples: np.ndarray, words: list[Word], sample_rate: int, *, lead: bool,
               tail: bool, trust_words: bool) -> tuple[np.ndarray, list[Word]]:
    """`samples` without their leading (`lead`) and/or trailing (`tail`) excess, and `words`
    shifted onto the trimmed audio."""
    timed = [w for w in words if w.start is not None and w.end is not None]
    start, end = _sound(samples, sample_rate)
    if trust_words and timed:
        start, end = timed[0].start, timed[-1].end  # type: ignore[assignment]
    first = 0
    last = len(samples)
    if lead:
        first = max(0, int((start - LEAD_MARGIN_SECONDS) * sample_rate))
    if tail:
        last = min(len(samples), max(first + 1, int((end + TAIL_MARGIN_SECONDS) * sample_rate)))
    if timed:  # never cut into a word
        first = min(first, int(min(w.start for w in timed) * sample_rate))  # type: ignore[type-var]
        last = max(last, min(len(samples),
                             int(np.ceil(max(w.end for w in timed) * sample_rate))))  # type: ignore[type-var]
    if first == 0 and last == len(samples):
        return samples, words
    shift = first / sample_rate
    moved = [w if w.start is None or w.end is None
             else Word(w.word, max(w.start - shift, 0.0), max(w.end - shift, 0.0), w.score)
             for w in words]
    return samples[first:last], moved


def _sound(samples: np.ndarray, sample_rate: int) -> tuple[float, float]:
    """Seconds where the first and the last audible frame begin and end."""
    frame = max(1, int(FRAME_SECONDS * sample_rate))
    n = len(samples) // frame
    if n == 0:
        return 0.0, len(samples) / sample_rate
    rms = np.sqrt(np.mean(samples[: n * frame].reshape(n, frame) ** 2, axis=1))
    loud = np.flatnonzero(rms >= QUIET * rms.max()) if rms.max() > 0 else np.arange(n)
    if len(loud) == 0:
        return 0.0, len(samples) / sample_rate
    return loud[0] * frame / sample_rate, (loud[-1] + 1) * frame / sample_rate
