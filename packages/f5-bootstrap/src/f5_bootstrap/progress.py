"""Progress lines: each with the time since start, to stdout (RunPod shows worker logs)
and appended to the env's provisioning log on the volume."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TextIO


class Progress:
    def __init__(self, log_path: Path | None, stream: TextIO = sys.stdout) -> None:
        self.start = time.monotonic()
        self.stream = stream
        self._log: TextIO | None = None
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = log_path.open("a", encoding="utf-8", buffering=1)
            self._log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S %Z')}\n")

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def __call__(self, message: str) -> None:
        self.write(f"[f5-bootstrap +{self.elapsed():6.1f}s] {message}\n")

    def write(self, text: str) -> None:
        """Raw text (a tool's output) to both places."""
        self.stream.write(text)
        self.stream.flush()
        if self._log is not None:
            self._log.write(text)

    def log_only(self, text: str) -> None:
        if self._log is not None:
            self._log.write(text)

    def close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
