"""The voice library: named voices, registered once and used by name everywhere.

    library = VoiceLibrary.from_settings(settings, prepare=engines.prepare_reference)
    library.list()                      -> [VoiceInfo]  built-ins first, then registered
    library.get(name)                   -> Voice        (info + prepared reference)
    library.resolve(name or None, language) -> Voice    what a request's voice field means
    library.register(name, audio, text, language, overwrite, source) -> VoiceInfo
    library.delete(name)

A voice is a name, its prepared reference (clipped at a pause to at most ~12 s with the
transcript clipped to match, 24 kHz mono: the engines' own preparation, the same a job with
a `voice_reference_url` gets), its transcript (given, or recognised once at registration),
its language and metadata. `register` prepares and stores it, so a job by name skips the
fetch, decoding, clipping and ASR.

Names follow names.py. `resolve` is the one place a requested voice is mapped: a registered or
built-in voice by its name; no name, `default`, or one of OpenAI's standard voices (alloy,
echo, ...) that is not registered, means the default voice: F5_DEFAULT_VOICE (`en-default`
unless set), or, while that is a built-in, the built-in of the request's language if it has one
(`zh-default` for `zh`); anything else is UnknownVoiceError. Errors: ValidationError (bad name,
built-in changed), UnknownVoiceError, VoiceExistsError (errors.py), StorageError.

Voices live in one store (store.py): the volume (`<root>/voices/`) or S3 (F5_VOICES_URL).
Prepared voices are kept in memory (the CACHE_VOICES most recently used); every `get` reads
the voice's manifest (a few hundred bytes) and compares its content hash, so a voice another
worker replaced or deleted is noticed at the next use, without a restart. Thread-safe.
No RunPod or HTTP types here: the queue worker, the CLI and the HTTP server all call it.
"""

from __future__ import annotations

import hashlib
import io
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np

from f5_runtime.engines.f5 import TTS_SAMPLE_RATE
from f5_runtime.engines.reference import PreparedReference
from f5_runtime.errors import ConfigError, UnknownVoiceError, ValidationError
from f5_runtime.voices.builtin import BUILTINS, builtin_info, recording
from f5_runtime.voices.names import DEFAULT_VOICE_NAMES, check_name
from f5_runtime.voices.store import VoiceInfo, VoiceStore, exists

if TYPE_CHECKING:
    from f5_runtime.config import Settings
    from f5_runtime.engines.types import Audio
    from f5_runtime.io.s3 import S3

log = logging.getLogger(__name__)

# The engines' reference preparation: (audio, transcript or None, language or None).
Prepare = Callable[["Audio", "str | None", "str | None"], PreparedReference]
CACHE_VOICES = 32  # prepared voices kept in memory (a 12 s reference is about 1.2 MB)


@dataclass(frozen=True)
class Voice:
    """A voice ready to speak with."""

    info: VoiceInfo
    reference: PreparedReference


class VoiceLibrary:
    def __init__(self, store: VoiceStore, *, prepare: Prepare | None = None,
                 default_voice: str = "en-default", cache_size: int = CACHE_VOICES):
        self.store = store
        self.prepare = prepare  # None: list/get/delete only (no engines loaded)
        self.default_voice = default_voice
        self.cache_size = cache_size
        self._cache: OrderedDict[str, Voice] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, *, s3: S3 | None = None,
                      prepare: Prepare | None = None) -> VoiceLibrary:
        """The store the settings name: S3 (F5_VOICES_URL) or the volume's voices/."""
        if settings.voices_url:
            from f5_runtime.io.s3 import S3
            from f5_runtime.voices.s3 import S3Backend

            backend = S3Backend(s3 or S3(settings), settings.voices_url)
        else:
            from f5_runtime.voices.volume import VolumeBackend

            backend = VolumeBackend(settings.voices_dir, settings.locks_dir,
                                    settings.lock_stale_s)
        return cls(VoiceStore(backend), prepare=prepare, default_voice=settings.default_voice)

    # --- reading -----------------------------------------------------------------------------

    def list(self) -> list[VoiceInfo]:
        return [builtin_info(name) for name in BUILTINS] + self.store.list()

    def get(self, name: str) -> Voice:
        check_name(name)
        if name in BUILTINS:
            return self._cached(name) or self._remember(self._prepare_builtin(name))
        info = self.store.info(name)
        if info is None:
            self._forget(name)
            raise unknown(name)
        cached = self._cached(name)
        if cached is not None and cached.info.content_hash == info.content_hash:
            return cached
        loaded = self.store.load(name)
        if loaded is None:
            self._forget(name)
            raise unknown(name)
        info, data = loaded
        log.info("voice %r loaded from %s (content %s)", name, self.store.where,
                 info.content_hash[:12])
        return self._remember(Voice(info, reference_from(info, data)))

    def resolve(self, name: str | None, language: str | None = None) -> Voice:
        """The voice a request in `language` means by `name` (module docstring)."""
        if name is not None:
            try:
                return self.get(name)
            except UnknownVoiceError:
                if name not in DEFAULT_VOICE_NAMES:
                    raise
        try:
            return self.get(self.default_for(language))
        except UnknownVoiceError:
            raise UnknownVoiceError(
                f"voice: the default voice {self.default_voice!r} (F5_DEFAULT_VOICE) is not "
                "registered: name a voice, or ask the operator to register it or set "
                f"F5_DEFAULT_VOICE to one of: {', '.join(i.name for i in self.list())}"
            ) from None

    def default_for(self, language: str | None) -> str:
        """The default voice's name for a request in `language`: an operator's own default
        (F5_DEFAULT_VOICE) always; the built-ins give way to the one of the language."""
        own = f"{language}-default"
        if self.default_voice in BUILTINS and own in BUILTINS:
            return own
        return self.default_voice

    # --- writing -----------------------------------------------------------------------------

    def register(self, name: str, audio: Audio, text: str | None = None,
                 language: str | None = None, overwrite: bool = False, source: str = ""
                 ) -> VoiceInfo:
        """Prepare `audio` (with its transcript `text`, recognised when None, in `language`,
        detected when None) and store it as `name`."""
        check_name(name)
        if name in BUILTINS:
            raise read_only(name)
        if not overwrite and self.store.info(name) is not None:
            raise exists(name)  # before the preparation (and its ASR) runs for nothing
        reference = self._prepare(audio, text, language)
        info = VoiceInfo(
            name=name, text=reference.text, language=reference.language or language,
            duration=reference.seconds,
            created=datetime.now(UTC).isoformat(timespec="seconds"),
            source=source, content_hash=content_hash(reference, language),
            source_seconds=reference.source_seconds, clipped=reference.clipped,
            transcribed=reference.transcribed,
        )
        info = self.store.save(info, wav_bytes(reference.samples), overwrite=overwrite)
        self._remember(Voice(info, reference))
        return info

    def delete(self, name: str) -> None:
        check_name(name)
        if name in BUILTINS:
            raise read_only(name)
        self._forget(name)
        if not self.store.delete(name):
            raise unknown(name)

    # --- inside ------------------------------------------------------------------------------

    def _prepare(self, audio: Audio, text: str | None, language: str | None
                 ) -> PreparedReference:
        if self.prepare is None:
            raise ConfigError("this voice library was opened without the engines: it cannot "
                              "prepare voices")
        return self.prepare(audio, text, language)

    def _prepare_builtin(self, name: str) -> Voice:
        from f5_runtime.io.audio import decode

        builtin = BUILTINS[name]
        audio = decode(recording(name).read_bytes(), what=f"built-in voice {name}")
        reference = self._prepare(audio, builtin.text, builtin.language)
        return Voice(builtin_info(name), reference)

    def _cached(self, name: str) -> Voice | None:
        with self._lock:
            voice = self._cache.get(name)
            if voice is not None:
                self._cache.move_to_end(name)
            return voice

    def _remember(self, voice: Voice) -> Voice:
        with self._lock:
            self._cache[voice.info.name] = voice
            self._cache.move_to_end(voice.info.name)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return voice

    def _forget(self, name: str) -> None:
        with self._lock:
            self._cache.pop(name, None)


def content_hash(reference: PreparedReference, language: str | None) -> str:
    h = hashlib.sha256(f"{language or ''}|{reference.text}|".encode())
    h.update(np.ascontiguousarray(reference.samples, dtype=np.float32).tobytes())
    return h.hexdigest()


def wav_bytes(samples: np.ndarray) -> bytes:
    """The prepared samples as a float32 WAV: exactly what was prepared, and playable."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, samples, TTS_SAMPLE_RATE, format="WAV", subtype="FLOAT")
    return buf.getvalue()


def reference_from(info: VoiceInfo, data: bytes) -> PreparedReference:
    import soundfile as sf

    samples, rate = sf.read(io.BytesIO(data), dtype="float32")
    if rate != TTS_SAMPLE_RATE or samples.ndim != 1:
        raise ValueError(f"voice {info.name!r}: stored audio is not 24 kHz mono")
    return PreparedReference(samples=samples, text=info.text, source_seconds=info.source_seconds,
                             clipped=info.clipped, transcribed=info.transcribed,
                             language=info.language)


def unknown(name: str) -> UnknownVoiceError:
    return UnknownVoiceError(
        f"voice: no voice is named {name!r}: see the voices with a "
        '{"voice_action": "list"} job (or `f5-runtime voices list`), or register it with '
        '{"voice_action": "register", ...}'
    )


def read_only(name: str) -> ValidationError:
    return ValidationError(f"voice: {name!r} is a built-in voice and cannot be changed or "
                           "deleted: register your voice under another name")
