"""Where registered voices are kept: one store interface, the rules of writing in one place.

A stored voice is two objects under its name: the prepared reference audio (a float32 WAV,
24 kHz mono: the samples exactly as prepared) and its manifest, `voice.json` (transcript,
language, metadata, the content hash, and the name of its audio object). The rules, the same
on the volume and in S3:
- the manifest is written last, and replaced in one step (a file rename on the volume; one
  PUT in S3): a voice whose manifest is absent does not exist, so a reader never sees half a
  voice;
- every write puts its audio under a new name, so a reader that read a manifest finds that
  manifest's audio or, when the voice was replaced meanwhile, reads the manifest again;
- a writer removes only the audio of the manifest it replaced;
- registering a name that exists without `overwrite` fails: the volume store holds a
  per-name lease (f5_bootstrap.lock) while it checks and writes, the S3 store writes the
  manifest with a conditional PUT (If-None-Match: *), so of two concurrent registrations one
  wins and the other is told the name is taken.

A backend (volume.py, s3.py) only reads, writes, removes and lists objects.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from f5_runtime.errors import VoiceExistsError

log = logging.getLogger(__name__)

MANIFEST = "voice.json"
MANIFEST_FORMAT = 1  # bump when the manifest changes incompatibly
READ_ATTEMPTS = 3  # a voice replaced while it is read: read its new manifest


@dataclass(frozen=True)
class VoiceInfo:
    """What is known of a voice without its audio (the manifest)."""

    name: str
    text: str  # transcript of the prepared reference
    language: str | None  # the reference's language: given, or detected by the ASR
    duration: float  # seconds of prepared reference audio
    created: str  # ISO 8601, UTC
    source: str  # where the recording came from (a URL without its query, or a file name)
    content_hash: str  # sha256 of the prepared samples, transcript and language
    builtin: bool = False
    audio: str = ""  # the store's name of the audio object
    source_seconds: float = 0.0  # the recording before trimming and clipping
    clipped: bool = False  # the recording was clipped (at a pause) to ~12 s
    transcribed: bool = False  # the transcript was recognised at registration

    def to_json(self) -> dict[str, Any]:
        """The API's view of a voice."""
        return {"name": self.name, "duration": round(self.duration, 3),
                "language": self.language, "text": self.text, "created": self.created,
                "builtin": self.builtin}

    def manifest(self) -> bytes:
        return json.dumps({"format": MANIFEST_FORMAT, **asdict(self)}, indent=1).encode()

    @classmethod
    def from_manifest(cls, data: bytes) -> VoiceInfo:
        raw = json.loads(data)
        if raw.pop("format", None) != MANIFEST_FORMAT:
            raise ValueError("unknown manifest format")
        return cls(**raw)


class Backend(Protocol):
    """Objects grouped by voice name: a directory per voice, or a key prefix per voice."""

    where: str  # for messages: the directory or s3:// prefix

    def read(self, name: str, obj: str) -> bytes | None:
        """The object's bytes, None when it does not exist."""

    def write(self, name: str, obj: str, data: bytes, *, if_absent: bool = False) -> bool:
        """Write the object in one step; with `if_absent`, False when it already exists."""

    def remove(self, name: str, obj: str) -> None:
        """Remove the object (nothing when it does not exist)."""

    def names(self) -> list[str]:
        """The names that have a manifest."""

    def lock(self, name: str) -> contextlib.AbstractContextManager[Any]:
        """Held while one name is registered or deleted (a no-op where writes are
        conditional instead)."""


class VoiceStore:
    """Registered voices in one backend: read, save, delete, list."""

    def __init__(self, backend: Backend):
        self.backend = backend

    @property
    def where(self) -> str:
        return self.backend.where

    def info(self, name: str) -> VoiceInfo | None:
        data = self.backend.read(name, MANIFEST)
        if data is None:
            return None
        try:
            return VoiceInfo.from_manifest(data)
        except (ValueError, TypeError) as exc:  # never ours: say so, treat it as absent
            log.warning("ignoring voice %r in %s: unreadable manifest (%s)", name, self.where,
                        exc)
            return None

    def load(self, name: str) -> tuple[VoiceInfo, bytes] | None:
        """The voice's manifest and audio, read consistently (None: no such voice)."""
        for _ in range(READ_ATTEMPTS):
            info = self.info(name)
            if info is None:
                return None
            audio = self.backend.read(name, info.audio)
            if audio is not None:
                return info, audio
            log.info("voice %r was replaced while it was read: reading it again", name)
        return None

    def save(self, info: VoiceInfo, audio: bytes, *, overwrite: bool) -> VoiceInfo:
        """Store a voice: its audio under a new name, then its manifest (last)."""
        name = info.name
        with self.backend.lock(name):
            old = self.info(name)
            if old is not None and not overwrite:
                raise exists(name)
            audio_obj = f"reference-{info.content_hash[:12]}-{uuid.uuid4().hex[:8]}.wav"
            info = VoiceInfo(**{**asdict(info), "audio": audio_obj})
            self.backend.write(name, audio_obj, audio)
            try:
                written = self.backend.write(name, MANIFEST, info.manifest(),
                                             if_absent=not overwrite)
            except BaseException:
                self.backend.remove(name, audio_obj)
                raise
            if not written:  # another registration of this name won the race
                self.backend.remove(name, audio_obj)
                raise exists(name)
            if old is not None and old.audio != audio_obj:
                self.backend.remove(name, old.audio)
        log.info("voice %r %s in %s (%.1f s)", name, "replaced" if old else "registered",
                 self.where, info.duration)
        return info

    def delete(self, name: str) -> bool:
        """Remove a voice, manifest first; False when there was none."""
        with self.backend.lock(name):
            info = self.info(name)
            if info is None:
                return False
            self.backend.remove(name, MANIFEST)
            self.backend.remove(name, info.audio)
        log.info("voice %r deleted from %s", name, self.where)
        return True

    def list(self) -> list[VoiceInfo]:
        infos = (self.info(name) for name in sorted(self.backend.names()))
        return [info for info in infos if info is not None]


def exists(name: str) -> VoiceExistsError:
    return VoiceExistsError(
        f"voice: {name!r} is already registered: choose another name, delete it first, or "
        "send overwrite: true to replace it"
    )
