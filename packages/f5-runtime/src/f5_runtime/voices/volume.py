"""Voices on the volume: `<root>/voices/<name>/voice.json` + `reference-*.wav`.

Every file is written to a temp file in the voice's directory and renamed into place
(`os.replace`: one step, even over the old file), the manifest last (store.py's rules).
Registering or deleting a name holds the lease `locks/voice-<name>.lock` (f5_bootstrap.lock:
works across the workers of an endpoint on the network volume, and a holder that died is
detected), so two workers registering one name one after the other: the second sees the
first's voice.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from f5_bootstrap.errors import BootstrapError
from f5_bootstrap.lock import VolumeLock

from f5_runtime.errors import StorageError
from f5_runtime.voices.names import is_voice_name
from f5_runtime.voices.store import MANIFEST

LOCK_TIMEOUT_S = 60.0  # a registration holds the lock for milliseconds
STALE_TEMP_SECONDS = 3600  # temp files a crashed writer left are removed after this


class VolumeBackend:
    def __init__(self, directory: Path, locks_dir: Path, stale_s: float):
        self.directory = Path(directory)
        self.locks_dir = Path(locks_dir)
        self.stale_s = stale_s
        self.where = str(self.directory)

    def _dir(self, name: str) -> Path:
        assert is_voice_name(name), name  # names are checked before they reach a store
        return self.directory / name

    def read(self, name: str, obj: str) -> bytes | None:
        try:
            return (self._dir(name) / obj).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def write(self, name: str, obj: str, data: bytes, *, if_absent: bool = False) -> bool:
        folder = self._dir(name)
        folder.mkdir(parents=True, exist_ok=True)
        if if_absent and (folder / obj).exists():  # callers hold the name's lock
            return False
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{obj}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o644)  # readable by every worker, as a plain write would be
            os.replace(tmp, folder / obj)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return True

    def remove(self, name: str, obj: str) -> None:
        folder = self._dir(name)
        (folder / obj).unlink(missing_ok=True)
        self._sweep(folder)
        if obj == MANIFEST:
            return
        with contextlib.suppress(OSError):
            folder.rmdir()  # only when nothing is left in it

    def names(self) -> list[str]:
        if not self.directory.is_dir():
            return []
        return [p.name for p in self.directory.iterdir()
                if is_voice_name(p.name) and (p / MANIFEST).is_file()]

    @contextmanager
    def lock(self, name: str) -> Iterator[None]:
        lease = VolumeLock(self.locks_dir / f"voice-{self._dir(name).name}.lock",
                           what=f"writing voice {name}", stale_s=self.stale_s,
                           log=lambda line: None)
        try:
            lease.acquire(LOCK_TIMEOUT_S)
        except BootstrapError as exc:
            raise StorageError(f"voice {name!r}: {exc}; try again") from exc
        try:
            yield
        finally:
            lease.release()

    def _sweep(self, folder: Path) -> None:
        """Temp files of writers that died long ago."""
        now = time.time()
        for path in folder.glob(".*.tmp"):
            try:
                if now - path.stat().st_mtime > STALE_TEMP_SECONDS:
                    path.unlink(missing_ok=True)
            except FileNotFoundError:
                continue
