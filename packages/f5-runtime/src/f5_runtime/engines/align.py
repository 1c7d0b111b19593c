"""The WhisperX engine: a time for every word of a known text, and ASR when the text is unknown.

Alignment is whisperx's own `load_align_model` + `align` (a wav2vec2 CTC model and a trellis
over the characters) on in-memory 16 kHz audio: no file paths, so no ffmpeg. Around it:
every written word comes back as written: digits, symbols and abbreviations are spelled out
for the aligner ("2014" -> "twenty fourteen", normalize.py, the mapping the model reads too)
and the times of the spoken words go back to the written one; punctuation and characters
the model does not know are left out of what the aligner sees (whisperx would otherwise
match each to any sound). A word that still gets no time comes back with None: the flow's
assembler interpolates it, with every other untimed word, in one place.

ASR is faster-whisper through `whisperx.load_model`, from a local directory only, loaded on
the first `transcribe`. Whether it then stays in memory is F5_ASR_KEEP_LOADED (Settings).
With F5_LOAD_FORMAT=dummy the models are tiny, random and built in memory (dummy.py).
"""

from __future__ import annotations

import gc
import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from f5_runtime.engines.align_models import ALIGN_SAMPLE_RATE, ModelSource, VolumeModels, windowed
from f5_runtime.engines.chunking import LANGUAGES_WITHOUT_SPACES
from f5_runtime.engines.normalize import spoken_forms
from f5_runtime.engines.types import Audio, Segment, Transcript, Word
from f5_runtime.errors import EngineError, ModelMissingError, ValidationError

if TYPE_CHECKING:
    from f5_runtime.config import Settings

logger = logging.getLogger(__name__)

ASR_BATCH_SIZE = {"cuda": 8, "cpu": 1}  # Whisper segments decoded together
Span = tuple[float, float, float | None]  # (start, end, score) of one aligned unit


@dataclass(frozen=True)
class _Unit:
    """What the aligner sees for a piece of a written word (a spoken word, or a character
    in languages written without spaces)."""

    text: str
    owner: int  # index of the written word


class Aligner:
    """Forced alignment and ASR on one device. Aligners load once and stay; Whisper loads on
    first use and stays only when `keep_asr` (else it is freed after each transcription)."""

    def __init__(self, device: str, source: ModelSource, *, keep_asr: bool = True):
        self.device = device
        self.keep_asr = keep_asr
        self._source = source
        self._align_models: dict[str, tuple[Any, dict]] = {}
        self._asr: Any = None
        self._lock = threading.Lock()  # one loader at a time; the models are shared

    # --- models ---

    def warm(self, languages: tuple[str, ...] | list[str]) -> None:
        """Load the aligners of `languages` now, before the first request."""
        for language in languages:
            self._align_model(language)

    def _align_model(self, language: str) -> tuple[Any, dict]:
        with self._lock:
            if language not in self._align_models:
                model, metadata = self._source.align_model(language, self.device)
                self._align_models[language] = (windowed(model, metadata["type"]), metadata)
            return self._align_models[language]

    def _asr_model(self) -> Any:
        with self._lock:
            if self._asr is None:
                self._asr = self._source.asr_model(self.device)
            return self._asr

    def unload_asr(self) -> None:
        """Free the Whisper model (GPU memory); the next `transcribe` loads it again."""
        with self._lock:
            if self._asr is None:
                return
            self._asr = None
        gc.collect()
        if self.device == "cuda":
            import torch

            torch.cuda.empty_cache()
        logger.info("ASR model unloaded (F5_ASR_KEEP_LOADED=0)")

    @property
    def asr_loaded(self) -> bool:
        return self._asr is not None

    # --- alignment ---

    def align(self, audio: Audio, text: str, language: str) -> list[Word]:
        """Every word of `text` (split on whitespace, as written), timed on `audio`; a word
        the aligner could not place has start and end None."""
        written = text.split()
        if not written:
            return []
        samples = _samples_16k(audio)
        duration = len(samples) / ALIGN_SAMPLE_RATE
        model, metadata = self._align_model(language)
        units = _units(written, language, metadata["dictionary"])
        spans: list[list[Span]] = [[] for _ in written]
        if units and duration > 0:
            for unit, timed in zip(
                units,
                self._run_align(units, language, model, metadata, samples, duration),
                strict=True,
            ):
                if timed is not None:
                    spans[unit.owner].append(timed)
        return [_written_word(word, sp) for word, sp in zip(written, spans, strict=True)]

    def _run_align(self, units, language, model, metadata, samples, duration):
        """(start, end, score) per unit, None where whisperx gave no time."""
        import torch
        import whisperx

        joiner = "" if language in LANGUAGES_WITHOUT_SPACES else " "
        segment = {"text": joiner.join(u.text for u in units), "start": 0.0, "end": duration}
        try:
            # whisperx's align draws from torch's global RNG; the synthesis seeds its own
            # noise and must find the global state as a caller left it
            with torch.random.fork_rng(devices=[]):
                result = whisperx.align(
                    [segment],
                    model,
                    metadata,
                    samples,
                    self.device,
                    interpolate_method="nearest",
                    return_char_alignments=False,
                )
        except RuntimeError as exc:  # e.g. CUDA out of memory: say which stage failed
            raise EngineError(f"word alignment failed: {exc}") from exc
        out: list[Span | None] = [None] * len(units)
        position = 0
        for word in result["word_segments"]:
            # whisperx returns the units in order; skip ahead over any it dropped
            while position < len(units) and units[position].text != word["word"]:
                position += 1
            if position == len(units):
                break
            start, end = word.get("start"), word.get("end")
            if start is not None and end is not None and not np.isnan(start + end):
                score = word.get("score")
                out[position] = (
                    float(start),
                    float(end),
                    None if score is None or np.isnan(score) else float(score),
                )
            position += 1
        return out

    # --- ASR ---

    def transcribe(self, audio: Audio, language: str | None) -> Transcript:
        """Speech recognition (Whisper), then word times from the aligner of the language,
        segment by segment (each Whisper segment is speech between pauses, <= 30 s: smaller
        problems than the whole recording, and a bad one stays local)."""
        samples = _samples_16k(audio)
        asr = self._asr_model()
        try:
            result = asr.transcribe(
                samples, batch_size=ASR_BATCH_SIZE.get(self.device, 1), language=language
            )
        except RuntimeError as exc:
            raise EngineError(f"speech recognition failed: {exc}") from exc
        finally:
            if not self.keep_asr:
                self.unload_asr()
        heard = [s for s in result["segments"] if s["text"].strip()]
        text = " ".join(s["text"].strip() for s in heard)
        detected = language or result.get("language") or "en"
        segments = []
        for s in heard:
            start = float(s.get("start") or 0.0)
            end = float(s.get("end") or audio.duration)
            segments.append(Segment(start, end, s["text"].strip(), []))
        try:
            segments = [self._align_segment(samples, s, detected) for s in segments]
        except (ModelMissingError, ValidationError) as exc:
            # the words stay untimed: the assembler spreads them over their segment by length
            logger.info("no aligner for %s (%s): word times from Whisper's segments", detected, exc)
            segments = [
                Segment(s.start, s.end, s.text, [Word(w, None, None) for w in s.text.split()])
                for s in segments
            ]
        return Transcript(text=text, language=detected, segments=segments)

    def _align_segment(self, samples: np.ndarray, segment: Segment, language: str) -> Segment:
        first = int(segment.start * ALIGN_SAMPLE_RATE)
        last = int(segment.end * ALIGN_SAMPLE_RATE)
        piece = Audio(samples[first:last], ALIGN_SAMPLE_RATE)
        return Segment(segment.start, segment.end, segment.text,
                       self.align(piece, segment.text, language))


def load_aligner(settings: Settings, device: str) -> Aligner:
    """The aligner for `device` ("cpu" or "cuda"): models from the volume, or tiny random
    ones with F5_LOAD_FORMAT=dummy. Nothing heavy loads until `warm`/`align`/`transcribe`."""
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda', not {device!r}")
    if settings.load_format == "dummy":
        from f5_runtime.engines.dummy import DummyModels

        source: ModelSource = DummyModels()
    else:
        source = VolumeModels(settings)
    return Aligner(device, source, keep_asr=settings.asr_keep_loaded)


# -------------------------------------------------------------------------------------------
# Text and times
# -------------------------------------------------------------------------------------------


def _samples_16k(audio: Audio) -> np.ndarray:
    return np.ascontiguousarray(audio.resampled(ALIGN_SAMPLE_RATE).samples, dtype=np.float32)


def _units(written: list[str], language: str, dictionary: dict[str, int]) -> list[_Unit]:
    """What the aligner sees: spoken forms, lower-cased, only characters the model knows."""
    units = []
    for owner, forms in enumerate(spoken_forms(written, language)):
        for spoken in forms:
            clean = "".join(ch for ch in spoken.lower() if ch in dictionary and ch not in " |")
            if language in LANGUAGES_WITHOUT_SPACES:
                units.extend(_Unit(ch, owner) for ch in clean)
            elif clean:
                units.append(_Unit(clean, owner))
    return units


def _written_word(word: str, spans: list[Span]) -> Word:
    """One written word from its units' times: from the first start to the last end, the mean
    score (0.0 when the model gave none); untimed (None) when none of its units got a time."""
    if not spans:
        return Word(word, None, None)
    scores = [s[2] for s in spans if s[2] is not None]
    return Word(
        word,
        min(s[0] for s in spans),
        max(s[1] for s in spans),
        float(np.mean(scores)) if scores else 0.0,
    )
