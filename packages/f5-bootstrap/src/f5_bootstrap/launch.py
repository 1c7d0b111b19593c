"""`run`: the warm path (env complete -> exec) and the runtime's documented environment.

The warm path costs a hash of the bundle and a few stat calls: stdlib only, no subprocess.
The build (`f5_bootstrap.build`, which imports filelock) is imported only when needed.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shlex
import sys
from pathlib import Path
from typing import TextIO

from f5_bootstrap.config import Config
from f5_bootstrap.envid import compute_env_id
from f5_bootstrap.errors import BootstrapError
from f5_bootstrap.image_env import ensure_models, find_complete_env
from f5_bootstrap.layout import LAST_USED, Layout, env_python, is_complete

# The variables f5-bootstrap sets for the runtime (the contract; see the README).
CONTRACT_VARIABLES = (
    "F5_VOLUME",
    "F5_MODELS_DIR",
    "HF_HOME",
    "TORCH_HOME",
    "NLTK_DATA",
    "F5_REFS_DIR",
    "F5_LOCKS_DIR",
    "F5_ENV_ID",
    "HF_HUB_OFFLINE",
    "PYTHONUNBUFFERED",
)


def runtime_env(
    config: Config, env_id: str, *, offline: bool, base: dict[str, str] | None = None
) -> dict[str, str]:
    """The environment of every runtime process: the caller's, plus the contract variables."""
    layout = Layout(config.root)
    env = dict(os.environ if base is None else base)
    # The image's interpreter settings must not leak into the env.
    env.pop("PYTHONHOME", None)
    env.pop("VIRTUAL_ENV", None)
    env.update(
        F5_VOLUME=str(config.volume),
        F5_MODELS_DIR=str(layout.models),
        HF_HOME=str(layout.models / "hf"),
        TORCH_HOME=str(layout.models / "torch"),
        NLTK_DATA=str(layout.models / "nltk"),
        F5_REFS_DIR=str(layout.refs),
        F5_LOCKS_DIR=str(layout.locks),
        F5_ENV_ID=env_id,
        HF_HUB_OFFLINE="1" if offline else "0",
        PYTHONUNBUFFERED="1",
    )
    return env


def worker_argv(env_dir: Path, args: list[str]) -> list[str]:
    return [str(env_python(env_dir)), "-m", "f5_runtime", "worker", *args]


def hold_in_use(layout: Layout, env_id: str) -> None:
    """A shared lock kept open through exec: gc never removes an env a worker runs from.

    Best effort: a filesystem without flock leaves gc with the last-used age only.
    """
    try:
        layout.locks.mkdir(parents=True, exist_ok=True)
        fd = os.open(layout.in_use_lock(env_id), os.O_RDWR | os.O_CREAT, 0o666)
        fcntl.flock(fd, fcntl.LOCK_SH)
        os.set_inheritable(fd, True)
    except OSError:
        pass


def mark_used(env_dir: Path) -> None:
    # A read-only volume still runs; gc just sees an older last use.
    with contextlib.suppress(OSError):
        (env_dir / LAST_USED).touch()


def run(config: Config, args: list[str], *, dry_run: bool = False, out: TextIO = sys.stdout) -> int:
    bundle = config.require_bundle()
    layout = Layout(config.root)
    env_id = compute_env_id(bundle, config.extras)
    baked = find_complete_env(config.image_root, env_id)  # the image's env comes first
    if baked is not None:
        env_dir = baked
        if not dry_run:
            ensure_models(config, env_dir, env_id)
    else:
        env_dir = layout.env_dir(env_id)
        if config.missing_volume and not is_complete(env_dir, env_id):
            config.require_volume()  # before anything is written where it would be lost
        if not dry_run:
            hold_in_use(layout, env_id)
        if not is_complete(env_dir, env_id):
            from f5_bootstrap.build import provision  # the cold path only

            provision(config)
        mark_used(env_dir)
    argv = worker_argv(env_dir, args)
    env = runtime_env(config, env_id, offline=True)
    if dry_run:
        out.write(f"exec {shlex.join(argv)}\n")
        out.writelines(f"{name}={env[name]}\n" for name in CONTRACT_VARIABLES)
        return 0
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execve(argv[0], argv, env)
    except OSError as exc:
        raise BootstrapError(
            "exec",
            f"could not exec {argv[0]}: {exc}",
            "the env's interpreter is a link to the image's Python: run the same image "
            "that built the env, or remove the env and let it rebuild",
        ) from exc
    return 0  # not reached
