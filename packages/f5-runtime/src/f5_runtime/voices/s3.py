"""Voices in S3 (`F5_VOICES_URL=s3://bucket/prefix/`): `<prefix><name>/voice.json` and
`<prefix><name>/reference-*.wav`, through the runtime's S3 client (io/s3.py: the endpoint's
bucket settings, retries, error messages).

S3 has no rename and no lock: store.py's rules make it safe anyway. The manifest is written
last in one PUT, and without `overwrite` with a conditional PUT (If-None-Match: *), so of two
registrations of one new name exactly one succeeds. Two concurrent overwrites both succeed
(the last manifest wins); the loser's audio object is then left unreferenced, never a half
voice.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from f5_runtime.errors import ConfigError
from f5_runtime.io.urls import S3Location
from f5_runtime.voices.names import is_voice_name
from f5_runtime.voices.store import MANIFEST

if TYPE_CHECKING:
    from f5_runtime.io.s3 import S3

MAX_OBJECT_BYTES = 16 * 1024 * 1024  # a prepared 12 s reference is about 1.2 MB
CONTENT_TYPES = {"json": "application/json", "wav": "audio/wav"}


def parse_voices_url(url: str) -> tuple[str, str]:
    """F5_VOICES_URL -> (bucket, prefix ending in '/' or empty); ConfigError when malformed."""
    if not url.startswith("s3://") or not url[len("s3://"):].split("/", 1)[0]:
        raise ConfigError(f"F5_VOICES_URL={url!r}: must be s3://bucket/ or s3://bucket/prefix/")
    bucket, _, prefix = url[len("s3://"):].partition("/")
    return bucket, prefix if not prefix or prefix.endswith("/") else prefix + "/"


class S3Backend:
    def __init__(self, s3: S3, url: str):
        self.s3 = s3
        self.bucket, self.prefix = parse_voices_url(url)
        self.where = f"s3://{self.bucket}/{self.prefix}"

    def _loc(self, name: str, obj: str) -> S3Location:
        assert is_voice_name(name), name  # names are checked before they reach a store
        return S3Location(self.bucket, f"{self.prefix}{name}/{obj}")

    def read(self, name: str, obj: str) -> bytes | None:
        return self.s3.read_object(self._loc(name, obj), MAX_OBJECT_BYTES)

    def write(self, name: str, obj: str, data: bytes, *, if_absent: bool = False) -> bool:
        content_type = CONTENT_TYPES.get(obj.rsplit(".", 1)[-1], "application/octet-stream")
        return self.s3.write_object(self._loc(name, obj), data, content_type,
                                    if_absent=if_absent)

    def remove(self, name: str, obj: str) -> None:
        self.s3.remove_object(self._loc(name, obj))

    def names(self) -> list[str]:
        found = set()
        for key in self.s3.list_keys(self.bucket, self.prefix):
            name, _, obj = key[len(self.prefix):].partition("/")
            if obj == MANIFEST and is_voice_name(name):
                found.add(name)
        return sorted(found)

    def lock(self, name: str) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()  # conditional writes instead (module docstring)
