"""`gc`: remove envs no worker has used for a while; never the current one, never one
whose lock is held or that a running worker uses."""

from __future__ import annotations

import fcntl
import os
import shutil
import sys
import time
from typing import TextIO

from f5_bootstrap.build import remove_tree
from f5_bootstrap.config import Config
from f5_bootstrap.errors import BootstrapError
from f5_bootstrap.layout import TRASH_PREFIX, Layout
from f5_bootstrap.lock import VolumeLock
from f5_bootstrap.status import current_env_id, env_entries

HOUR_S = 3600.0


def collect_garbage(
    config: Config, keep_hours: float, *, dry_run: bool = False, out: TextIO = sys.stdout
) -> list[str]:
    """Remove what is old and unheld; returns the env-ids removed (or that would be)."""
    layout = Layout(config.root)
    now = time.time()
    removed = []
    for entry in env_entries(config, current_env_id(config)):
        env_id = entry["env_id"]
        idle_h = (now - entry["last_used"]) / HOUR_S
        if entry["current"]:
            reason = "current"
        elif entry["lock_holder"]:
            reason = "its lock is held"
        elif entry["in_use"]:
            reason = "a running worker uses it"
        elif entry["complete"] and idle_h < keep_hours:
            reason = f"used {idle_h:.1f} h ago"
        else:
            reason = None
        name = entry["path"].rsplit("/", 1)[-1]
        if reason:
            out.write(f"keep   {name} ({reason})\n")
            continue
        why = f"unused for {idle_h:.1f} h" if entry["complete"] else "incomplete, no builder"
        size = entry["size_bytes"] / 1e9
        out.write(f"{'would remove' if dry_run else 'remove'} {name} ({why}, {size:.2f} GB)\n")
        if not dry_run and not remove_env(config, layout, env_id, name):
            out.write(f"keep   {name} (taken by another process meanwhile)\n")
            continue
        removed.append(env_id)
    if not dry_run:
        for trash in layout.envs.glob(f"{TRASH_PREFIX}*") if layout.envs.is_dir() else []:
            shutil.rmtree(trash, ignore_errors=True)  # an interrupted earlier removal
    return removed


def remove_env(config: Config, layout: Layout, env_id: str, name: str) -> bool:
    """Under the env's lock and its in-use lock (both without waiting): out of place, deleted."""
    lock = VolumeLock(
        layout.env_lock(env_id), what=f"removing env {env_id}", stale_s=config.stale_lock_s
    )
    if not lock.try_acquire():
        return False
    try:
        fd = os.open(layout.in_use_lock(env_id), os.O_RDWR | os.O_CREAT, 0o666)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            except OSError:
                pass  # no flock on this filesystem: the last-used age decided
            try:
                remove_tree(layout.envs / name, layout)
            except OSError as exc:
                raise BootstrapError("gc", f"could not remove {name}: {exc}") from exc
        finally:
            os.close(fd)
    finally:
        lock.release()
    return True
