"""Where things live under <volume>/f5tts, and what makes an env complete.

    envs/<env-id>/                     one venv per env identity, never changed once complete
    envs/<env-id>/.f5-complete.json    the marker: written last, atomically
    envs/<env-id>/.f5-last-used        touched by every `run` (gc reads its mtime)
    envs/.staging-<env-id>-<token>/    a build in progress, renamed to envs/<env-id> when done
    envs/.trash-<name>-<token>/        an env or staging dir being deleted (renamed away first)
    code/<code-id>/                    one release's own code (f5_runtime, f5_bootstrap), compiled
    code/.staging-<code-id>-<token>/   ... being copied; renamed into place when done
    models/.f5-ready-<models-key>.json the models of one model configuration are fetched
    models/  cache/uv/  cache/lock-digests/  locks/  refs/  logs/
    voices/<name>/                     named voices (the runtime's; locks/voice-<name>.lock)
Stdlib only: the warm path reads the marker.
"""

from __future__ import annotations

import contextlib
import json
import os
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
    def code(self) -> Path:
        return self.root / "code"

    def code_dir(self, code_id: str) -> Path:
        return self.code / code_id

    @property
    def lock_digests(self) -> Path:
        """Memos of uv.lock resolutions (f5_bootstrap.lockfile)."""
        return self.root / "cache" / "lock-digests"

    def models_marker(self, models_key: str) -> Path:
        return self.models / f".f5-ready-{models_key}.json"

    @property
    def models_lock(self) -> Path:
        return self.locks / "models.lock"

    def env_dir(self, env_id: str) -> Path:
        return self.envs / env_id

    def env_lock(self, env_id: str) -> Path:
        return self.locks / f"{env_id}.lock"

    def in_use_lock(self, name: str) -> Path:
        """Held shared by every running worker of an env (`<env-id>`) or of a code dir
        (`code-<code-id>`), inherited through exec."""
        return self.locks / f"{name}.inuse"

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


def search_roots(layout: Layout, image_root: Path | None) -> tuple[Layout, ...]:
    """Where complete envs and code dirs are looked for: the image's own root first (the
    volume-less variant bakes them in, read-only: F5_IMAGE_ROOT), then the volume."""
    return (Layout(image_root), layout) if image_root is not None else (layout,)


def find_complete_env(layout: Layout, env_id: str, image_root: Path | None = None) -> Path | None:
    """The complete env for this env-id, or None: the one place that looks for envs."""
    for where in search_roots(layout, image_root):
        env_dir = where.env_dir(env_id)
        if is_complete(env_dir, env_id):
            return env_dir
    return None


def code_is_complete(code_dir: Path, code_id: str) -> bool:
    marker = read_marker(code_dir)
    return marker is not None and marker.get("code_id") == code_id


def find_complete_code(layout: Layout, code_id: str, image_root: Path | None = None) -> Path | None:
    """The complete code dir for this code-id, or None (image root first, like envs)."""
    for where in search_roots(layout, image_root):
        code_dir = where.code_dir(code_id)
        if code_is_complete(code_dir, code_id):
            return code_dir
    return None


def tree_size(path: Path) -> int:
    total = 0
    for dirpath, _dirnames, filenames in os.walk(path):
        for name in filenames:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total
