"""Envs baked into the image: the variant that needs no network volume (.runpod/Dockerfile).

At image build time, `F5_VOLUME=<dir> f5-bootstrap provision` builds the env into the image
with the same code, lock and env-id as on a volume; the image sets F5_IMAGE_ROOT=<dir>. At
run time `run` looks for a complete env there before it looks at the volume, and execs it
with the models, refs and locks still on the volume (on container disk when there is none).
The models are fetched there once, by the baked env's own `fetch-models`.
Stdlib only: this is on the warm path.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from f5_bootstrap.config import Config
from f5_bootstrap.errors import BootstrapError
from f5_bootstrap.layout import Layout, env_python, is_complete


def find_complete_env(root: Path | None, env_id: str) -> Path | None:
    """envs/<env-id> under `root` (a volume's or the image's f5tts/) when it is complete."""
    if root is None:
        return None
    env_dir = Layout(root).env_dir(env_id)
    return env_dir if is_complete(env_dir, env_id) else None


def models_marker(config: Config, env_id: str) -> Path:
    """Written once the baked env's `fetch-models` has succeeded on this root."""
    return Layout(config.root).models / f".f5-fetched-{env_id}"


def ensure_models(config: Config, env_dir: Path, env_id: str) -> None:
    """Run the baked env's `fetch-models` against the volume once (it takes the models lock
    itself and is idempotent: a worker killed half-way resumes where it stopped)."""
    from f5_bootstrap.launch import runtime_env  # launch imports this module

    marker = models_marker(config, env_id)
    if marker.exists():
        return
    print(f"[f5-bootstrap] env {env_id} is in the image ({env_dir}); fetching models to "
          f"{config.root}", flush=True)  # fmt: skip
    try:
        config.root.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            [str(env_python(env_dir)), "-m", "f5_runtime", "fetch-models"],
            env=runtime_env(config, env_id, offline=False),
            cwd=config.root,
            check=False,
        )
    except OSError as exc:
        raise BootstrapError("fetch-models", f"could not run the image's env: {exc}") from exc
    if result.returncode != 0:
        raise BootstrapError(
            "fetch-models",
            f"`fetch-models` of the image's env exited with {result.returncode}",
            f"see its output above; check access to the model hub and free space on {config.root}",
        )
    marker.parent.mkdir(parents=True, exist_ok=True)
    staging = marker.with_name(f"{marker.name}.{os.getpid()}.tmp")
    staging.write_text(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {sys.executable}\n")
    os.replace(staging, marker)
