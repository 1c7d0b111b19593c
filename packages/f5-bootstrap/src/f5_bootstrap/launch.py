"""`run`: the warm path (env, code and models ready -> exec) and the exec itself.

The warm path costs a hash of the bundle's code, a read of the lock's memoized resolution
and a few stat calls: stdlib only, no subprocess. The build (`f5_bootstrap.build`, which
imports filelock) is imported only when something is missing.
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
from f5_bootstrap.contract import CODE_PATH_VARIABLE, CONTRACT_VARIABLES, runtime_argv, runtime_env
from f5_bootstrap.envid import current_release
from f5_bootstrap.errors import BootstrapError
from f5_bootstrap.layout import LAST_USED, Layout, find_complete_code, find_complete_env
from f5_bootstrap.models import models_key, models_ready


def code_lock_name(code_id: str) -> str:
    """The in-use lock's name for a code dir (envs use their env-id)."""
    return f"code-{code_id}"


def hold_in_use(layout: Layout, name: str) -> None:
    """A shared lock kept open through exec: gc never removes what a worker runs from.

    Best effort: a filesystem without flock leaves gc with the last-used age only.
    """
    try:
        layout.locks.mkdir(parents=True, exist_ok=True)
        fd = os.open(layout.in_use_lock(name), os.O_RDWR | os.O_CREAT, 0o666)
        fcntl.flock(fd, fcntl.LOCK_SH)
        os.set_inheritable(fd, True)
    except OSError:
        pass


def mark_used(path: Path) -> None:
    # A read-only volume still runs; gc just sees an older last use.
    with contextlib.suppress(OSError):
        (path / LAST_USED).touch()


def run(config: Config, args: list[str], *, dry_run: bool = False, out: TextIO = sys.stdout) -> int:
    if config.missing_volume and config.image_root is None:
        config.require_volume()  # before anything is written where it would be lost
    layout = Layout(config.root)
    release = current_release(config)
    env_dir = find_complete_env(layout, release.env_id, config.image_root)
    if env_dir is None and config.missing_volume:
        config.require_volume()  # the image has no env for this release: nothing to run
    if not dry_run:
        hold_in_use(layout, release.env_id)
        hold_in_use(layout, code_lock_name(release.code_id))
    code_dir = find_complete_code(layout, release.code_id, config.image_root)
    ready = (
        env_dir is not None
        and code_dir is not None
        and models_ready(layout, models_key(config, release.env_id, code_dir))
    )
    if not ready:
        from f5_bootstrap.build import provision  # the cold path only

        env_dir, code_dir = provision(config, serving=True)
    mark_used(env_dir)
    mark_used(code_dir)
    argv = runtime_argv(env_dir, "worker", *args)
    env = runtime_env(config, release.env_id, code_dir, offline=True)
    if dry_run:
        out.write(f"exec {shlex.join(argv)}\n")
        names = (*CONTRACT_VARIABLES, CODE_PATH_VARIABLE)
        out.writelines(f"{name}={env[name]}\n" for name in names)
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
