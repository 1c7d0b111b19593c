"""Where things live under <volume>/f5tts, and what makes an env complete.

    envs/<env-id>/                     one venv per env identity, never changed once complete
    envs/<env-id>/.f5-complete.json    the marker: written last, atomically
    envs/<env-id>/.f5-last-used        touched by every `run` (gc reads its mtime)
    envs/.staging-<env-id>-<token>/    a build in progress, renamed to envs/<env-id> when done
    envs/.trash-<name>-<token>/        an env or staging dir being deleted (renamed away first)
    models/  cache/uv/  locks/  refs/  logs/
Stdlib only: the warm path reads the marker.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

MARKER = ".f5-complete.json"
LAST_USED = ".f5-last-used"
STAGING_PREFIX = ".staging-"
TRASH_PREFIX = ".trash-"


@dataclass(frozen=True)
class Layout:
    root: Path  # <volume>/f5tts

    @property
    def envs(self) -> Path:
        return self.root / "envs"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def locks(self) -> Path:
        return self.root / "locks"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def refs(self) -> Path:
        return self.root / "refs"

    @property
    def models_lock(self) -> Path:
        return self.locks / "models.lock"

    def env_dir(self, env_id: str) -> Path:
        return self.envs / env_id

    def env_lock(self, env_id: str) -> Path:
        return self.locks / f"{env_id}.lock"

    def in_use_lock(self, env_id: str) -> Path:
        """Held shared by every running worker of the env (inherited through exec)."""
        return self.locks / f"{env_id}.inuse"

    def provision_log(self, env_id: str) -> Path:
        return self.logs / f"provision-{env_id}.log"


def env_python(env_dir: Path) -> Path:
    return env_dir / "bin" / "python"


def read_marker(env_dir: Path) -> dict | None:
    try:
        data = json.loads((env_dir / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_complete(env_dir: Path, env_id: str) -> bool:
    """The warm-path check: a valid marker for this env-id and an interpreter in place."""
    marker = read_marker(env_dir)
    return marker is not None and marker.get("env_id") == env_id and env_python(env_dir).exists()
