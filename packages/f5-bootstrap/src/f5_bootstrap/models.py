"""The models of one model configuration: fetched once, under the models lock, then marked.

    models/.f5-ready-<models-key>.json
    models-key = sha256(the runtime's model variables (config.MODEL_VARIABLES), the env-id,
                        the runtime's manifest module of this release)[:16]

An endpoint whose F5_LANGUAGES (or F5_TTS_MODEL, ...) changes gets a new key: the next `run`
fetches what is missing before it execs the worker, instead of starting a worker that cannot
find its models. The marker is a stat on the warm path. The manifest module (repos, pinned
revisions) is part of the key, so a release that changes it fetches again; other code
releases do not (a verifying fetch-models reads every model file: slow on a network volume).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from pathlib import Path

from f5_bootstrap.config import Config
from f5_bootstrap.contract import runtime_argv, runtime_env
from f5_bootstrap.errors import BootstrapError
from f5_bootstrap.layout import Layout
from f5_bootstrap.progress import Progress

# The runtime module that defines the manifest (repos, files, pinned revisions), in a code dir.
MANIFEST_MODULE = "f5_runtime/models/manifest.py"
KEY_LENGTH = 16  # hex digits


def models_key(config: Config, env_id: str, code_dir: Path) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps([list(config.model_settings), env_id]).encode())
    with contextlib.suppress(OSError):  # a runtime without that module: settings decide
        digest.update((code_dir / MANIFEST_MODULE).read_bytes())
    return digest.hexdigest()[:KEY_LENGTH]


def models_ready(layout: Layout, key: str) -> bool:
    return layout.models_marker(key).is_file()


def ensure_models(
    config: Config, layout: Layout, env_dir: Path, env_id: str, code_dir: Path, progress: Progress
) -> None:
    """Run the runtime's fetch-models under the models lock, unless this key is marked done."""
    from f5_bootstrap.lock import VolumeLock  # filelock: never on the warm path
    from f5_bootstrap.tools import run_tool

    key = models_key(config, env_id, code_dir)
    if models_ready(layout, key):
        return
    chosen = ", ".join(f"{k}={v}" for k, v in config.model_settings if v) or "the defaults"
    progress(f"fetch-models ... (models {key}: {chosen})")
    started = time.monotonic()
    lock = VolumeLock(
        layout.models_lock, what=f"fetching models {key}", stale_s=config.stale_lock_s, log=progress
    )
    lock.acquire(config.lock_timeout_s)
    with lock:
        if models_ready(layout, key):
            progress("the models were fetched by another process while we waited")
            return
        run_tool(
            progress,
            "fetch-models",
            runtime_argv(env_dir, "fetch-models", "--no-lock"),  # we hold the lock
            env=runtime_env(config, env_id, code_dir, offline=False),
            cwd=layout.root,
            log=layout.provision_log(env_id),
        )
        marker = layout.models_marker(key)
        body = {
            "models_key": key,
            "settings": dict(config.model_settings),
            "env_id": env_id,
            "code_dir": str(code_dir),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        staging = marker.with_name(f"{marker.name}.{os.uname().nodename}-{os.getpid()}")
        try:
            marker.parent.mkdir(parents=True, exist_ok=True)  # dummy weights fetch nothing
            staging.write_text(json.dumps(body, indent=2) + "\n")
            os.replace(staging, marker)
        except OSError as exc:
            raise BootstrapError("finalize", f"could not write {marker}: {exc}") from exc
    progress(f"fetch-models done in {time.monotonic() - started:.1f} s")
