"""A small deterministic engine for the `Engines` seam (service tests, no models).

synthesize: a quiet tone whose length follows the text (or the dubbing target), words evenly
spaced; align: words evenly spaced over the audio; transcribe: a fixed transcript. Texts with
`__fail__` raise an ordinary exception, `__cuda__` a CUDA-style error and `__slow__` sleep, so
the worker's error paths can be driven through the real API server. Selected with
F5_ENGINES=runtime.engine_double:make_engines (PYTHONPATH=tests).
"""

from __future__ import annotations

import time

import numpy as np
from f5_runtime.engines import SYNTHESIS_STAGES, Audio, Speech, SynthesisOptions, Transcript, Word

RATE = 24_000  # Hz
SECONDS_PER_WORD = 0.3
TRANSCRIPT = "hello from the test engine"


def spaced(words: list[str], duration: float) -> list[Word]:
    step = duration / max(len(words), 1)
    return [Word(w, round(i * step, 3), round((i + 0.8) * step, 3), 0.9)
            for i, w in enumerate(words)]


def tone(seconds: float) -> Audio:
    t = np.arange(int(seconds * RATE), dtype=np.float32) / RATE
    return Audio((0.1 * np.sin(2 * np.pi * 220.0 * t)).astype(np.float32), RATE)


class ToneEngines:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.languages: list[tuple[str, str | None]] = []  # (text's, reference's) per synthesis

    def synthesize(self, text, reference, reference_text, language, options: SynthesisOptions,
                   on_stage=None, reference_language=None) -> Speech:
        self.calls.append("synthesize")
        self.languages.append((language, reference_language))
        if "__fail__" in text:
            raise RuntimeError("the test engine was asked to fail")
        if "__cuda__" in text:
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        for stage in SYNTHESIS_STAGES if on_stage is not None else ():
            on_stage(stage)  # the real engines' stage names, in their order
        if "__slow__" in text:
            time.sleep(60)  # long enough to be stopped mid-job
        words = text.split()
        seconds = options.target_duration or SECONDS_PER_WORD * len(words) / options.speed
        return Speech(tone(seconds), spaced(words, seconds), reference_text or TRANSCRIPT,
                      timings=dict.fromkeys(SYNTHESIS_STAGES, 0.0))

    def align(self, audio: Audio, text: str, language: str) -> list[Word]:
        self.calls.append("align")
        return spaced(text.split(), audio.duration)

    def transcribe(self, audio: Audio, language: str | None) -> Transcript:
        self.calls.append("transcribe")
        return Transcript(TRANSCRIPT, language or "en", spaced(TRANSCRIPT.split(), audio.duration))


def make_engines(settings) -> ToneEngines:
    return ToneEngines()
