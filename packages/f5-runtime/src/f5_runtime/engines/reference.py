"""Voice references: preparation for F5-TTS, and a bounded cache of prepared ones on the volume.

Preparation (numpy only; upstream's `preprocess_ref_audio_text` is not used: it leaks temp
files, caches without bound, and clips the audio without clipping the transcript):
(decoded audio) -> 24 kHz -> trim leading/trailing silence -> clip to at most
MAX_REFERENCE_SECONDS at a pause -> transcript: the user's (shortened to the words that are
still in the clipped audio, found with the aligner), or the ASR's when none is given.

Prepared references are stored by content hash (audio bytes, transcript, language,
preparation version, models) in `refs_dir`, written atomically, and evicted oldest-used first
when the directory passes its size bound; every worker on the volume shares them, so a voice
used again skips decoding, alignment and ASR.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from f5_runtime.engines.chunking import (
    LANGUAGES_WITHOUT_SPACES,
    is_cjk,
    normalize,
    with_final_punctuation,
)
from f5_runtime.engines.f5 import TTS_SAMPLE_RATE
from f5_runtime.engines.types import Audio, Transcript, Word
from f5_runtime.errors import InputError

log = logging.getLogger(__name__)

MAX_REFERENCE_SECONDS = 12.0  # f5-tts's reference bound; longer ones leave no room to speak
MIN_REFERENCE_SECONDS = 1.0  # below this there is no voice to clone
MIN_CLIP_SECONDS = 4.0  # a pause earlier than this is not used as the clip point
FRAME_SECONDS = 0.01  # analysis frame of the silence detector
SILENCE_BELOW_PEAK_DB = 30.0  # a frame this far below the loudest frame is silence...
SILENCE_FLOOR_DB = -55.0  # ...or below this absolute level (dBFS), whichever is higher
EDGE_KEEP_SECONDS = 0.05  # silence kept before the first and after the last sound
LONG_PAUSE_SECONDS = 0.3  # a pause between sentences: the preferred clip point
SHORT_PAUSE_SECONDS = 0.08  # a pause between words: the fallback clip point
PREPARATION_VERSION = "3"  # bump when the preparation changes: old cache entries stop matching
STALE_TEMP_SECONDS = 3600  # leftover temp files of crashed writers are removed after this


class ReferenceAligner(Protocol):
    """What preparation needs from the aligner (align.Aligner provides it)."""

    def align(self, audio: Audio, text: str, language: str) -> list[Word]: ...

    def transcribe(self, audio: Audio, language: str | None) -> Transcript: ...


@dataclass(frozen=True)
class PreparedReference:
    samples: np.ndarray  # float32, 24 kHz, trimmed and clipped, original loudness
    text: str  # transcript of exactly these samples
    source_seconds: float  # duration of the input before trimming and clipping
    clipped: bool  # the input was longer than MAX_REFERENCE_SECONDS
    transcribed: bool  # the text came from ASR
    language: str | None = None  # the reference's own: given, or detected by the ASR

    @property
    def seconds(self) -> float:
        return len(self.samples) / TTS_SAMPLE_RATE

    @property
    def rms(self) -> float:
        return float(np.sqrt(np.mean(np.square(self.samples, dtype=np.float64))))

    def model_text(self) -> str:
        """The transcript as F5-TTS reads it before the text to speak: a closed sentence and a
        space, as upstream does."""
        text = with_final_punctuation(self.text)
        return text if is_cjk(text[-1]) else text + " "


# ---------------------------------------------------------------------------- analysis


def frame_levels(samples: np.ndarray, rate: int) -> np.ndarray:
    """RMS level of each FRAME_SECONDS frame in dBFS."""
    size = max(1, int(rate * FRAME_SECONDS))
    count = len(samples) // size
    frames = samples[: count * size].reshape(count, size).astype(np.float64)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    return 20 * np.log10(np.maximum(rms, 1e-10))


def silent_frames(samples: np.ndarray, rate: int) -> np.ndarray:
    levels = frame_levels(samples, rate)
    if levels.size == 0:
        return np.zeros(0, dtype=bool)
    threshold = max(levels.max() - SILENCE_BELOW_PEAK_DB, SILENCE_FLOOR_DB)
    return levels < threshold


def trim_silence(samples: np.ndarray, rate: int) -> np.ndarray:
    silent = silent_frames(samples, rate)
    sound = np.flatnonzero(~silent)
    if sound.size == 0:
        raise InputError("the voice reference is silent: send a recording of someone speaking")
    size = int(rate * FRAME_SECONDS)
    keep = int(rate * EDGE_KEEP_SECONDS)
    start = max(0, sound[0] * size - keep)
    end = min(len(samples), (sound[-1] + 1) * size + keep)
    return samples[start:end]


def _pauses(silent: np.ndarray) -> list[tuple[int, int]]:
    """(first, end) frame indices of each run of silent frames."""
    edges = np.diff(np.concatenate(([0], silent.astype(np.int8), [0])))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))


def clip_point(samples: np.ndarray, rate: int, max_seconds: float = MAX_REFERENCE_SECONDS) -> int:
    """Sample index to cut at: the latest long pause before `max_seconds`, else the latest short
    pause, else the quietest frame of the last second before it."""
    silent = silent_frames(samples, rate)
    size = int(rate * FRAME_SECONDS)
    limit = int(max_seconds / FRAME_SECONDS)
    earliest = int(MIN_CLIP_SECONDS / FRAME_SECONDS)
    for min_pause in (LONG_PAUSE_SECONDS, SHORT_PAUSE_SECONDS):
        candidates = [
            (first, end)
            for first, end in _pauses(silent)
            if earliest <= first < limit and (min(end, limit) - first) * FRAME_SECONDS >= min_pause
        ]
        if candidates:
            first, end = candidates[-1]
            return int((first + min(end, limit)) // 2) * size
    levels = frame_levels(samples, rate)
    window = levels[max(0, limit - int(1 / FRAME_SECONDS)) : limit]
    return int(limit - len(window) + int(np.argmin(window))) * size


def words_before(words: list[Word], seconds: float, language: str) -> str:
    """The transcript of the audio before `seconds`: every word up to the last timed word
    whose middle lies before it (untimed words between kept ones are kept too)."""
    last = -1
    for i, w in enumerate(words):
        if w.start is not None and w.end is not None and (w.start + w.end) / 2 < seconds:
            last = i
    joiner = "" if language in LANGUAGES_WITHOUT_SPACES else " "
    return joiner.join(w.word for w in words[: last + 1])


# ---------------------------------------------------------------------------- preparation


def reference_key(audio: Audio, text: str | None, language: str | None, salt: str) -> str:
    h = hashlib.sha256()
    h.update(f"prep={PREPARATION_VERSION}|{salt}|lang={language or 'detect'}|".encode())
    h.update(b"text=" + (normalize(text).encode() if text else b"<asr>") + b"|")
    h.update(f"audio={audio.sample_rate}|".encode())
    h.update(np.ascontiguousarray(audio.samples, dtype=np.float32).tobytes())
    return h.hexdigest()


def prepare_reference(
    audio: Audio, text: str | None, language: str | None, aligner: ReferenceAligner
) -> PreparedReference:
    """`language` is the reference's own (None: Whisper detects it while transcribing)."""
    source_seconds = audio.duration
    audio = audio.resampled(TTS_SAMPLE_RATE)
    samples = trim_silence(audio.samples, TTS_SAMPLE_RATE)
    clipped = len(samples) > MAX_REFERENCE_SECONDS * TTS_SAMPLE_RATE
    full = samples
    if clipped:
        cut = clip_point(samples, TTS_SAMPLE_RATE)
        samples = trim_silence(samples[:cut], TTS_SAMPLE_RATE)
        log.info(
            "reference clipped from %.1f s to %.1f s at a pause",
            len(full) / TTS_SAMPLE_RATE,
            len(samples) / TTS_SAMPLE_RATE,
        )
    if len(samples) < MIN_REFERENCE_SECONDS * TTS_SAMPLE_RATE:
        raise InputError(
            f"the voice reference has {len(samples) / TTS_SAMPLE_RATE:.1f} s of speech; "
            f"send at least {MIN_REFERENCE_SECONDS:.0f} s (5-10 s works best)"
        )
    text = normalize(text or "")
    transcribed = not text
    if transcribed:
        transcript = aligner.transcribe(Audio(samples, TTS_SAMPLE_RATE), language)
        text, language = normalize(transcript.text), transcript.language
        if not text:
            raise InputError(
                "no speech was recognised in the voice reference: send voice_reference_text"
            )
    elif clipped:
        # Upstream's bug (#1139, #1207): the audio is clipped, the text is not, and the output
        # speaks the cut words. Keep the words that are still in the clipped audio.
        language = language or "en"  # only reached with a transcript: callers pass its language
        words = aligner.align(Audio(full, TTS_SAMPLE_RATE), text, language)
        shortened = words_before(words, len(samples) / TTS_SAMPLE_RATE, language)
        if shortened:
            text = shortened
    return PreparedReference(
        samples=np.ascontiguousarray(samples, dtype=np.float32),
        text=text,
        source_seconds=source_seconds,
        clipped=clipped,
        transcribed=transcribed,
        language=language,
    )


# ---------------------------------------------------------------------------- cache


class ReferenceCache:
    """Prepared references on the volume, one `<key>.npz` each, bounded to `max_bytes`."""

    def __init__(self, directory: Path, max_bytes: int):
        self.directory = Path(directory)
        self.max_bytes = max_bytes

    def path(self, key: str) -> Path:
        return self.directory / f"{key}.npz"

    def get(self, key: str) -> PreparedReference | None:
        path = self.path(key)
        try:
            with np.load(path, allow_pickle=False) as npz:
                meta = json.loads(str(npz["meta"]))
                samples = np.asarray(npz["samples"], dtype=np.float32)
            os.utime(path)  # least recently used goes first
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:  # corrupt
            log.warning("dropping unreadable cached reference %s: %s", path.name, exc)
            path.unlink(missing_ok=True)
            return None
        return PreparedReference(samples=samples, **meta)

    def put(self, key: str, ref: PreparedReference) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        meta = {
            "text": ref.text,
            "source_seconds": ref.source_seconds,
            "clipped": ref.clipped,
            "transcribed": ref.transcribed,
            "language": ref.language,
        }
        buf = io.BytesIO()
        np.savez(buf, samples=ref.samples, meta=np.array(json.dumps(meta)))
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=f".{key[:16]}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(buf.getvalue())
            os.replace(tmp, self.path(key))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self.evict()

    def evict(self) -> None:
        """Remove the least recently used entries until the cache fits its bound."""
        entries = []
        now = time.time()
        for path in self.directory.iterdir():
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            if path.suffix == ".tmp":
                if now - st.st_mtime > STALE_TEMP_SECONDS:
                    path.unlink(missing_ok=True)
            elif path.suffix == ".npz":
                entries.append((st.st_mtime, st.st_size, path))
        total = sum(size for _, size, _ in entries)
        for _, size, path in sorted(entries):
            if total <= self.max_bytes:
                break
            path.unlink(missing_ok=True)
            total -= size
            log.info(
                "evicted cached reference %s (cache over %d MB)", path.name, self.max_bytes >> 20
            )


class ReferencePreparer:
    """Prepare-or-reuse: the one entry point the engines call. `hits` and `misses` count
    cache lookups, and each is logged ("reference cache hit/miss <key>") for operators and
    tests."""

    def __init__(self, cache: ReferenceCache | None, aligner: ReferenceAligner, salt: str):
        self.cache = cache
        self.aligner = aligner
        self.salt = salt
        self.hits = 0
        self.misses = 0

    def __call__(
        self, audio: Audio, text: str | None, language: str | None
    ) -> tuple[PreparedReference, bool]:
        """(prepared reference, whether it came from the cache)."""
        key = reference_key(audio, text, language, self.salt)
        if self.cache is not None and (hit := self.cache.get(key)) is not None:
            self.hits += 1
            log.info("reference cache hit %s", key[:16])
            return hit, True
        ref = prepare_reference(audio, text, language, self.aligner)
        if self.cache is not None:
            self.misses += 1
            log.info("reference cache miss %s: prepared, now stored", key[:16])
            try:
                self.cache.put(key, ref)
            except OSError as exc:  # a full or read-only volume must not fail the request
                log.warning("could not cache the prepared reference: %s", exc)
        return ref, False
