"""The real `Engines`: F5-TTS (tts.py) and WhisperX (align.py) together.

synthesize = prepare the reference (cached on the volume) -> sample every chunk -> align each
chunk's own text against its own audio and shift the times by the chunk's place in the
output. Aligning per chunk is faster than one alignment over everything and cannot drift
across chunk joins.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from f5_runtime.engines import Audio, Speech, StageCallback, SynthesisOptions, Transcript, Word
from f5_runtime.errors import EngineError, RuntimeFailure, WorkerBrokenError
from f5_runtime.reference import SAMPLE_RATE, ReferenceCache, ReferencePreparer
from f5_runtime.tts import Synthesis, TTSEngine

if TYPE_CHECKING:
    from f5_runtime.config import Settings

log = logging.getLogger(__name__)

MB = 1024 * 1024


def chunk_words(synthesis: Synthesis, aligner, language: str) -> list[Word]:
    """Every word of every chunk, timed on the joined output, in order and not overlapping."""
    total = synthesis.audio.duration
    words: list[Word] = []
    previous_end = 0.0
    for chunk in synthesis.chunks:
        for w in aligner.align(Audio(chunk.samples, SAMPLE_RATE), chunk.plan.text, language):
            start = chunk.offset + (w.start or 0.0)
            end = chunk.offset + (w.end if w.end is not None else w.start or 0.0)
            start = min(max(start, previous_end), total)  # cross-fades may overlap a little
            end = min(max(end, start), total)
            words.append(Word(w.word, round(start, 3), round(end, 3), w.score))
            previous_end = end
    return words


class VoiceEngines:
    """Implements the `Engines` protocol with a loaded TTS engine and aligner."""

    def __init__(self, tts: TTSEngine, aligner, references: ReferencePreparer):
        self.tts = tts
        self.aligner = aligner
        self.references = references

    def synthesize(
        self,
        text: str,
        reference: Audio | bytes,
        reference_text: str | None,
        language: str,
        options: SynthesisOptions,
        on_stage: StageCallback | None = None,
        reference_language: str | None = None,
    ) -> Speech:
        """`reference` may also be the raw file bytes: a cached voice then skips decoding."""
        stage = on_stage or (lambda _name: None)
        timings: dict[str, float] = {}
        try:
            stage("reference")
            started = time.perf_counter()
            if reference_language is None and reference_text is not None:
                reference_language = language  # a given transcript: assumed in the text's
            ref, cached = self.references(reference, reference_text, reference_language)
            timings["reference"] = time.perf_counter() - started
            log.info(
                "reference %.1f s (%s%s): %r",
                ref.seconds,
                "cached" if cached else "prepared",
                ", clipped" if ref.clipped else "",
                ref.text[:80],
            )
            stage("synthesize")
            started = time.perf_counter()
            synthesis = self.tts.synthesize(text, ref, options)
            timings["synthesize"] = time.perf_counter() - started
            timings.update({f"synthesize.{k}": v for k, v in synthesis.timings.items()})
            stage("align")
            started = time.perf_counter()
            words = chunk_words(synthesis, self.aligner, language)
            timings["align"] = time.perf_counter() - started
        except RuntimeFailure:
            raise
        except RuntimeError as exc:  # torch raises RuntimeError for CUDA faults
            if "CUDA" in str(exc) or "cuDNN" in str(exc) or "CUBLAS" in str(exc):
                raise WorkerBrokenError(f"the GPU failed: {exc}") from exc
            raise EngineError(f"synthesis failed: {exc}") from exc
        return Speech(audio=synthesis.audio, words=words, reference_text=ref.text, timings=timings)

    def align(self, audio: Audio, text: str, language: str) -> list[Word]:
        return self.aligner.align(audio, text, language)

    def transcribe(self, audio: Audio, language: str | None) -> Transcript:
        return self.aligner.transcribe(audio, language)


def load_voice_engines(settings: Settings) -> VoiceEngines:
    from f5_runtime.align import load_aligner
    from f5_runtime.device import choose_device

    choice = choose_device(settings.device)
    tts = TTSEngine.load(settings, choice)
    aligner = load_aligner(settings, choice.device)
    aligner.warm(settings.languages)
    cache = ReferenceCache(settings.refs_dir, settings.refs_cache_mb * MB)
    salt = f"tts={settings.tts_model}|load={settings.load_format}|asr={settings.asr_model}"
    return VoiceEngines(tts, aligner, ReferencePreparer(cache, aligner, salt))
