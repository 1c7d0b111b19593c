"""The WhisperX engine: a time for every word of a known text, and ASR when the text is unknown.

Alignment is whisperx's own `load_align_model` + `align` (a wav2vec2 CTC model and a trellis
over the characters) on in-memory 16 kHz audio: no file paths, so no ffmpeg. Around it:
- every written word comes back as written: digits and symbols are spelled out for the
  aligner ("2014" -> "twenty fourteen", f5_runtime.numbers) and the times of the spoken words
  go back to the written one; punctuation and characters the model does not know are left
  out of what the aligner sees (whisperx would otherwise match each to any sound);
- a word that still gets no time is interpolated between its neighbours (by length), and the
  result is made monotonic, with plain-float times and scores (0.0 when interpolated).
ASR is faster-whisper through `whisperx.load_model`, from a local directory only, loaded on
the first `transcribe` and freed by `unload_asr`.

With F5_LOAD_FORMAT=dummy the models are tiny, random and built in memory
(f5_runtime.dummy_align): the code path is real, the times and transcripts are meaningless.
"""

from __future__ import annotations

import gc
import logging
import math
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from f5_runtime import models
from f5_runtime.audio import resample
from f5_runtime.config import Settings
from f5_runtime.engines import Audio, Transcript, Word
from f5_runtime.errors import EngineError, ModelMissingError, ValidationError
from f5_runtime.numbers import spoken_words

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16_000  # Hz: what wav2vec2 aligners and Whisper take
LANGUAGES_WITHOUT_SPACES = ("ja", "zh")  # whisperx aligns these character by character
ASR_BATCH_SIZE = {"cuda": 8, "cpu": 1}  # Whisper segments decoded together
ASR_COMPUTE_TYPE = {"cuda": "float16", "cpu": "int8"}  # faster-whisper's advice per device
DECIMALS = 3  # word times and scores are rounded to milliseconds
# wav2vec2 attends over the whole input (memory grows with its square): long recordings get
# their emissions computed per window, the alignment itself still runs over all of them
WINDOW_SAMPLES = 30 * SAMPLE_RATE  # a multiple of the model's 320-sample frame stride


@dataclass(frozen=True)
class _Unit:
    """What the aligner sees for a piece of a written word (a spoken word, or a character
    in languages written without spaces)."""

    text: str
    owner: int  # index of the written word


class Aligner:
    """Forced alignment and ASR on one device; models load once and stay (ASR until unloaded)."""

    def __init__(self, device: str, source: _ModelSource):
        self.device = device
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
                self._align_models[language] = (_windowed(model, metadata["type"]), metadata)
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
        logger.info("ASR model unloaded")

    @property
    def asr_loaded(self) -> bool:
        return self._asr is not None

    # --- alignment ---

    def align(self, audio: Audio, text: str, language: str) -> list[Word]:
        """Every word of `text` (split on whitespace, as written), timed on `audio`."""
        written = text.split()
        if not written:
            return []
        samples = _samples_16k(audio)
        duration = len(samples) / SAMPLE_RATE
        model, metadata = self._align_model(language)
        units = _units(written, language, metadata["dictionary"])
        spans: list[list[tuple[float, float, float | None]]] = [[] for _ in written]
        if units and duration > 0:
            for unit, timed in zip(
                units,
                self._run_align(units, language, model, metadata, samples, duration),
                strict=True,
            ):
                if timed is not None:
                    spans[unit.owner].append(timed)
        return _fill_and_order(written, spans, duration)

    def _run_align(self, units, language, model, metadata, samples, duration):
        """(start, end, score) per unit, None where whisperx gave no time."""
        import whisperx

        joiner = "" if language in LANGUAGES_WITHOUT_SPACES else " "
        segment = {"text": joiner.join(u.text for u in units), "start": 0.0, "end": duration}
        try:
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
        out: list[tuple[float, float, float | None] | None] = [None] * len(units)
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
        """Speech recognition (Whisper), then word times from the aligner of the language."""
        samples = _samples_16k(audio)
        asr = self._asr_model()
        try:
            result = asr.transcribe(
                samples, batch_size=ASR_BATCH_SIZE.get(self.device, 1), language=language
            )
        except RuntimeError as exc:
            raise EngineError(f"speech recognition failed: {exc}") from exc
        segments = [s for s in result["segments"] if s["text"].strip()]
        text = " ".join(s["text"].strip() for s in segments)
        detected = language or result.get("language") or "en"
        try:
            words = self._align_segments(samples, segments, detected)
        except (ModelMissingError, ValidationError) as exc:
            logger.info("no aligner for %s (%s): word times from Whisper's segments", detected, exc)
            words = _segment_words(segments, audio.duration)
        return Transcript(text=text, language=detected, words=words)

    def _align_segments(self, samples: np.ndarray, segments: list[dict], language: str):
        """Each Whisper segment (speech between pauses, <= 30 s) aligned on its own stretch
        of audio: smaller problems than the whole recording, and a bad one stays local."""
        words: list[Word] = []
        for segment in segments:
            start = float(segment["start"])
            first, last = int(start * SAMPLE_RATE), int(float(segment["end"]) * SAMPLE_RATE)
            piece = Audio(samples[first:last], SAMPLE_RATE)
            for w in self.align(piece, segment["text"], language):
                assert w.start is not None and w.end is not None
                words.append(
                    Word(
                        w.word,
                        round(start + w.start, DECIMALS),
                        round(start + w.end, DECIMALS),
                        w.score,
                    )
                )
        return words


# -------------------------------------------------------------------------------------------
# Building the aligner
# -------------------------------------------------------------------------------------------


class _ModelSource:
    """Where the models come from: the volume (`_VolumeModels`) or memory (`_DummyModels`)."""

    def align_model(self, language: str, device: str) -> tuple[Any, dict]:
        raise NotImplementedError

    def asr_model(self, device: str) -> Any:
        raise NotImplementedError


class _VolumeModels(_ModelSource):
    def __init__(self, settings: Settings):
        self.settings = settings
        _use_nltk_data(models.require_punkt(settings))

    def align_model(self, language: str, device: str) -> tuple[Any, dict]:
        import whisperx

        source = models.align_model(self.settings, language)
        logger.info("loading the %s aligner %s on %s", language, source.name, device)
        if source.kind == "torchaudio":
            assert source.checkpoint is not None
            # torchaudio finds the checkpoint in model_dir and downloads nothing
            return whisperx.load_align_model(
                language, device, model_name=source.name, model_dir=str(source.checkpoint.parent)
            )
        return whisperx.load_align_model(
            language, device, model_name=source.name, model_cache_only=True
        )

    def asr_model(self, device: str) -> Any:
        import whisperx

        path = models.asr_model_dir(self.settings)
        logger.info("loading the ASR model %s on %s", path, device)
        return whisperx.load_model(
            str(path),
            device,
            compute_type=ASR_COMPUTE_TYPE.get(device, "float32"),
            download_root=str(models.hub_cache(self.settings)),
            local_files_only=True,
            vad_method="pyannote",  # its weights ship inside whisperx: nothing to download
        )


class _DummyModels(_ModelSource):
    """Tiny random models in memory: nothing read from the volume (F5_LOAD_FORMAT=dummy)."""

    def __init__(self):
        _empty_punkt_files()

    def align_model(self, language: str, device: str) -> tuple[Any, dict]:
        from f5_runtime.dummy_align import tiny_wav2vec2

        model, vocab = tiny_wav2vec2()
        dictionary = {token.lower(): i for token, i in vocab.items()}
        return model.to(device), {
            "language": language,
            "dictionary": dictionary,
            "type": "huggingface",
        }

    def asr_model(self, device: str) -> Any:
        import whisperx
        from whisperx.asr import WhisperModel

        from f5_runtime.dummy_align import tiny_whisper_files

        whisper = WhisperModel(
            "dummy-tiny-whisper",
            device=device,
            compute_type=ASR_COMPUTE_TYPE.get(device, "float32"),
            files=tiny_whisper_files(),
        )
        return whisperx.load_model(
            "dummy-tiny-whisper",
            device,
            model=whisper,
            compute_type=ASR_COMPUTE_TYPE.get(device, "float32"),
            vad_method="pyannote",
        )


def _windowed(model: Any, kind: str) -> Any:
    """`model` computing its CTC emissions window by window on long inputs; the same
    call and return shapes as the model's own (what whisperx.align expects of its `kind`)."""
    import torch

    class Windowed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = model

        def forward(self, waveform, lengths=None):
            if waveform.shape[-1] <= WINDOW_SAMPLES:
                if kind == "torchaudio":
                    return self.inner(waveform, lengths=lengths)
                return self.inner(waveform)
            pieces = []
            for start in range(0, waveform.shape[-1], WINDOW_SAMPLES):
                piece = waveform[..., start : start + WINDOW_SAMPLES]
                if piece.shape[-1] < 400:  # shorter than one wav2vec2 frame
                    break
                out = self.inner(piece)
                pieces.append(out[0] if kind == "torchaudio" else out.logits)
            emissions = torch.cat(pieces, dim=1)
            if kind == "torchaudio":
                return emissions, None
            return _Logits(emissions)

    return Windowed().eval()


@dataclass(frozen=True)
class _Logits:
    logits: Any  # what whisperx reads from a transformers model's output


def load_aligner(settings: Settings, device: str) -> Aligner:
    """The aligner for `device` ("cpu" or "cuda"): models from the volume, or tiny random
    ones with F5_LOAD_FORMAT=dummy. Nothing heavy loads until `warm`/`align`/`transcribe`."""
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda', not {device!r}")
    source = _DummyModels() if settings.load_format == "dummy" else _VolumeModels(settings)
    return Aligner(device, source)


def _use_nltk_data(path: Path) -> None:
    """Let whisperx's NLTK find punkt_tab on the volume even when NLTK_DATA is not set."""
    import nltk

    if str(path) in nltk.data.path:
        nltk.data.path.remove(str(path))
    nltk.data.path.insert(0, str(path))


_PUNKT_TMP: tempfile.TemporaryDirectory | None = None


def _empty_punkt_files() -> None:
    """Dummy mode: empty punkt_tab parameter files (no abbreviations known) for every
    language whisperx asks for, in a temp dir, so that whisperx never tries to download."""
    global _PUNKT_TMP
    if _PUNKT_TMP is None:
        from whisperx.utils import PUNKT_LANGUAGES

        _PUNKT_TMP = tempfile.TemporaryDirectory(prefix="f5-dummy-nltk-")
        for language in {"english", *PUNKT_LANGUAGES.values()}:
            directory = Path(_PUNKT_TMP.name) / "tokenizers" / "punkt_tab" / language
            directory.mkdir(parents=True)
            for name in models.PUNKT_FILES:
                (directory / name).touch()
    _use_nltk_data(Path(_PUNKT_TMP.name))


# -------------------------------------------------------------------------------------------
# Text and times
# -------------------------------------------------------------------------------------------


def _samples_16k(audio: Audio) -> np.ndarray:
    return np.ascontiguousarray(resample(audio, SAMPLE_RATE).samples, dtype=np.float32)


def _units(written: list[str], language: str, dictionary: dict[str, int]) -> list[_Unit]:
    """What the aligner sees: spoken forms, lower-cased, only characters the model knows."""
    units = []
    for owner, word in enumerate(written):
        for spoken in spoken_words(word, language):
            clean = "".join(ch for ch in spoken.lower() if ch in dictionary and ch not in " |")
            if language in LANGUAGES_WITHOUT_SPACES:
                units.extend(_Unit(ch, owner) for ch in clean)
            elif clean:
                units.append(_Unit(clean, owner))
    return units


def _fill_and_order(
    written: list[str], spans: list[list[tuple[float, float, float | None]]], duration: float
) -> list[Word]:
    """One Word per written word: the union of its units' times; untimed words share the gap
    between their timed neighbours by length; then monotonic and inside [0, duration]."""
    n = len(written)
    duration = math.floor(duration * 10**DECIMALS) / 10**DECIMALS  # rounding stays inside
    start: list[float | None] = [min(s[0] for s in sp) if sp else None for sp in spans]
    end: list[float | None] = [max(s[1] for s in sp) if sp else None for sp in spans]
    scores = [[s[2] for s in sp if s[2] is not None] for sp in spans]
    score = [float(np.mean(s)) if s else 0.0 for s in scores]
    i = 0
    while i < n:
        if start[i] is not None:
            i += 1
            continue
        j = i
        while j < n and start[j] is None:
            j += 1
        left = end[i - 1] if i > 0 else 0.0
        right = start[j] if j < n else duration
        left, right = min(left, duration), max(min(right, duration), min(left, duration))
        weights = np.array([max(len(w), 1) for w in written[i:j]], dtype=float)
        edges = left + (right - left) * np.concatenate([[0.0], np.cumsum(weights)]) / weights.sum()
        for k in range(i, j):
            start[k], end[k], score[k] = float(edges[k - i]), float(edges[k - i + 1]), 0.0
        i = j
    words = []
    previous_end = 0.0
    for k in range(n):
        s = min(max(float(start[k]), previous_end, 0.0), duration)  # type: ignore[arg-type]
        e = min(max(float(end[k]), s), duration)  # type: ignore[arg-type]
        previous_end = e
        words.append(
            Word(written[k], round(s, DECIMALS), round(e, DECIMALS), round(score[k], DECIMALS))
        )
    return words


def _segment_words(segments: list[dict], duration: float) -> list[Word]:
    """Word times spread over Whisper's segments by length (no aligner for the language)."""
    words: list[Word] = []
    for segment in segments:
        written = segment["text"].split()
        s0 = float(segment.get("start") or 0.0)
        s1 = float(segment.get("end") or duration)
        for w in _fill_and_order(written, [[] for _ in written], max(s1 - s0, 0.0)):
            start, end = round(s0 + w.start, DECIMALS), round(s0 + w.end, DECIMALS)
            words.append(Word(w.word, start, end, w.score))
    return words
