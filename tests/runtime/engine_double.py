"""A small deterministic engine for the `Engines` seam (service tests, no models).

plan: one chunk per sentence, 0.3 s per word (divided by the speed), or the dubbing target
shared by word count; generate(works) + vocode: a quiet tone of each chunk's length, its pitch
set by the chunk's seed (generate returns (frames, seed, text, bad) per chunk; vocode remembers
which wave came from which chunk); align: words
evenly spaced over the audio; transcribe: a fixed transcript. Texts with `__fail__` raise an
ordinary exception, `__cuda__` a CUDA-style error and `__slow__` sleep in `generate`, so the
worker's error paths can be driven through the real API server. A chunk with `__mumble__`
comes out bad for the seeds `bad_seed` picks (by default even ones): the second half of its
words dropped (untimed by `align`, missing from `transcribe`) and one word repeated, so
verification and regeneration can be driven. Selected with
F5_ENGINES=runtime.engine_double:make_engines (PYTHONPATH=tests).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable

import numpy as np
from f5_runtime.engines.f5 import TTS_SAMPLE_RATE as RATE
from f5_runtime.engines.normalize import continues_sentence, speakable
from f5_runtime.engines.planning import CROSS_FADE_SECONDS
from f5_runtime.engines.reference import PreparedReference
from f5_runtime.engines.types import Audio, ChunkPlan, Segment, SynthesisOptions, Transcript, Word
from f5_runtime.errors import DeviceOutOfMemory

SECONDS_PER_WORD = 0.3
TRANSCRIPT = "hello from the test engine"
HOLD_SECONDS = 4.0


def spaced(words: list[str], duration: float) -> list[Word]:
    step = duration / max(len(words), 1)
    return [Word(w, round(i * step, 3), round((i + 0.8) * step, 3), 0.9)
            for i, w in enumerate(words)]


def tone(samples: int, seed: int = 0) -> np.ndarray:
    """A quiet tone whose pitch follows the seed (a chunk given another job's seed shows)."""
    t = np.arange(samples, dtype=np.float32) / RATE
    return (0.1 * np.sin(2 * np.pi * (220.0 + seed % 200) * t)).astype(np.float32)


class ToneEngines:
    sample_rate = RATE

    def __init__(self, batch_frames: int = 0,
                 bad_seed: Callable[[int], bool] = lambda seed: seed % 2 == 0) -> None:
        self.batch_frames = batch_frames  # in this engine a "frame" is one sample
        self.oom_above: int | None = None  # batches of more chunks raise DeviceOutOfMemory
        self.generate_delay = 0.0  # seconds each sampler call takes
        self.bad_seed = bad_seed  # which seeds make a `__mumble__` chunk bad
        self.model_texts: list[str] = []  # what the "model" read, per chunk sampled
        self.seeds: list[tuple[str, int]] = []  # (chunk text, seed) per chunk sampled
        self._made: dict[int, tuple[np.ndarray, str, bool]] = {}  # id(wave) -> (wave, text, bad)
        self.calls: list[str] = []
        self.generate_calls: list[list[str]] = []  # the chunks of each sampler call
        self.reference_languages: list[str | None] = []  # per prepared reference (None: detect)
        self.align_languages: list[str] = []  # per align call

    def prepare_reference(self, audio: Audio, text, language) -> PreparedReference:
        self.reference_languages.append(language)
        self.calls.append("reference")  # the samples are kept as they are: this engine's
        # output does not depend on them (and no resampling keeps scipy out of the worker)
        return PreparedReference(audio.samples, text or TRANSCRIPT, audio.duration, False,
                                 not text)

    def plan(self, text: str, reference, options: SynthesisOptions) -> list[ChunkPlan]:
        sentences: list[str] = []
        for piece in re.split(r"(?<=[.!?])\s+", text.strip()):
            if sentences and continues_sentence(sentences[-1].split()[-1]):
                sentences[-1] += " " + piece  # "Dr. Lee" is one sentence
            elif piece:
                sentences.append(piece)
        words = [len(s.split()) for s in sentences]
        if options.target_duration is not None:
            fades = CROSS_FADE_SECONDS * (len(sentences) - 1)
            seconds = [(options.target_duration + fades) * n / sum(words) for n in words]
        else:
            seconds = [SECONDS_PER_WORD * n / options.speed for n in words]
        spoken = [speakable(s, options.normalize) if options.normalize else s for s in sentences]
        return [ChunkPlan(s, m, round(t * RATE), round(t * RATE))
                for s, m, t in zip(sentences, spoken, seconds, strict=True)]

    def generate(self, works) -> list[tuple[int, int, str, bool]]:
        self.calls.append("generate")
        self.generate_calls.append([w.chunk.text for w in works])
        text = " ".join(w.chunk.text for w in works)
        if self.oom_above is not None and len(works) > self.oom_above:
            raise DeviceOutOfMemory(f"the test engine holds at most {self.oom_above} chunks")
        if "__fail__" in text:
            raise RuntimeError("the test engine was asked to fail")
        if "__cuda__" in text:
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        if "__slow__" in text:
            time.sleep(60)  # long enough to be stopped mid-job
        if self.generate_delay:
            time.sleep(self.generate_delay)
        self.model_texts += [w.chunk.model_text for w in works]
        self.seeds += [(w.chunk.text, w.seed) for w in works]
        return [(w.chunk.frames, w.seed, w.chunk.text,
                 "__mumble__" in w.chunk.text and self.bad_seed(w.seed)) for w in works]

    def vocode(self, generated: list[tuple[int, int, str, bool]]) -> list[np.ndarray]:
        waves = []
        for frames, seed, text, bad in generated:
            wave = tone(frames, seed)
            self._made[id(wave)] = (wave, text, bad)  # the wave is kept: its id stays unique
            waves.append(wave)
        return waves

    def _said(self, audio: Audio) -> tuple[str, bool] | None:
        made = self._made.get(id(audio.samples))
        return None if made is None else (made[1], made[2])

    def align(self, audio: Audio, text: str, language: str) -> list[Word]:
        self.calls.append("align")
        self.align_languages.append(language)
        words = spaced(text.split(), audio.duration)
        said = self._said(audio)
        if said is not None and said[1]:  # the second half was swallowed: no time for it
            keep = len(words) // 2
            words = words[:keep] + [Word(w.word, None, None) for w in words[keep:]]
        return words

    def transcribe(self, audio: Audio, language: str | None) -> Transcript:
        self.calls.append("transcribe")
        said = self._said(audio)
        if said is not None:  # a synthesized chunk: what it said, mumbled or not
            words = said[0].split()
            if said[1]:
                words = [words[0], *words[: len(words) // 2]]
            heard = " ".join(words)
            return Transcript(heard, language or "en",
                              [Segment(0.0, audio.duration, heard,
                                       spaced(words, audio.duration))])
        segment = Segment(0.0, audio.duration, TRANSCRIPT,
                          spaced(TRANSCRIPT.split(), audio.duration))
        return Transcript(TRANSCRIPT, language or "en", [segment])


def make_engines(settings) -> ToneEngines:
    return ToneEngines()


class RecordingToneEngines(ToneEngines):
    """The tone engine of a worker process, writing each sampler call's chunk texts as a JSON
    line to $F5_TEST_CALLS (so a test sees the batches the worker formed); each call takes
    $F5_TEST_GENERATE_S seconds (HOLD_SECONDS more for a chunk saying `__hold__`), and
    batches of more than $F5_TEST_OOM_ABOVE chunks run out of memory."""

    def __init__(self, path: str, batch_frames: int) -> None:
        super().__init__(batch_frames)
        self.path = path
        self.generate_delay = float(os.environ.get("F5_TEST_GENERATE_S", "0"))
        oom_above = os.environ.get("F5_TEST_OOM_ABOVE")
        self.oom_above = int(oom_above) if oom_above else None

    def generate(self, works):
        with open(self.path, "a") as f:
            f.write(json.dumps([w.chunk.text for w in works]) + "\n")
        if any("__hold__" in w.chunk.text for w in works):
            time.sleep(HOLD_SECONDS)  # the device stays busy: other jobs' chunks queue up
        return super().generate(works)


def make_recording_engines(settings) -> RecordingToneEngines:
    return RecordingToneEngines(os.environ["F5_TEST_CALLS"], settings.tts_batch_frames)
