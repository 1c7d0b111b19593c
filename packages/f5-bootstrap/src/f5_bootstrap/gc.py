"""`gc`: remove envs and code dirs no worker has used for a while; never the current ones,
never an env whose lock is held, never one a running worker uses."""

from __future__ import annotations

import fcntl
import os
import sys
import time
from pathlib import Path
from typing import TextIO

from f5_bootstrap.config import Config
from f5_bootstrap.errors import BootstrapError
from f5_bootstrap.launch import code_lock_name
from f5_bootstrap.layout import Layout
from f5_bootstrap.lock import VolumeLock
from f5_bootstrap.status import code_entries, current, env_entries
from f5_bootstrap.trash import empty_trash, remove_tree

HOUR_S = 3600.0


def keep_reason(entry: dict, keep_hours: float, now: float) -> str | None:
    idle_h = (now - entry["last_used"]) / HOUR_S
    if entry["current"]:
        return "current"
    if entry.get("lock_holder"):
        return "its lock is held"
    if entry["in_use"]:
        return "a running worker uses it"
    if entry["complete"] and idle_h < keep_hours:
        return f"used {idle_h:.1f} h ago"
    return None


def collect_garbage(
    config: Config, keep_hours: float, *, dry_run: bool = False, out: TextIO = sys.stdout
) -> list[str]:
    """Remove what is old and unheld; returns the env-ids and code-ids removed (or that
    would be)."""
    layout = Layout(config.root)
    release = current(config)
    now = time.time()
    removed = []
    candidates = [
        *(("env", e["env_id"], e) for e in env_entries(config, release and release.env_id)),
        *(("code", e["code_id"], e) for e in code_entries(config, release and release.code_id)),
    ]
    for kind, item_id, entry in candidates:
        path = Path(entry["path"])
        label = path.name if kind == "env" else f"code/{path.name}"
        reason = keep_reason(entry, keep_hours, now)
        if reason:
            out.write(f"keep   {label} ({reason})\n")
            continue
        idle_h = (now - entry["last_used"]) / HOUR_S
        why = f"unused for {idle_h:.1f} h" if entry["complete"] else "incomplete, no builder"
        size = entry["size_bytes"] / 1e9
        out.write(f"{'would remove' if dry_run else 'remove'} {label} ({why}, {size:.2f} GB)\n")
        if not dry_run:
            build_lock = layout.env_lock(item_id) if kind == "env" else None
            in_use = item_id if kind == "env" else code_lock_name(item_id)
            if not remove_unused(config, layout, path, build_lock, in_use):
                out.write(f"keep   {label} (taken by another process meanwhile)\n")
                continue
        removed.append(item_id)
    if not dry_run:
        empty_trash(layout.envs)
        empty_trash(layout.code)
    return removed


def remove_unused(
    config: Config, layout: Layout, path: Path, build_lock: Path | None, in_use_name: str
) -> bool:
    """Under the build lock (envs) and the in-use lock (both without waiting): out of place,
    then deleted."""
    lock = None
    if build_lock is not None:
        lock = VolumeLock(build_lock, what=f"removing {path.name}", stale_s=config.stale_lock_s)
        if not lock.try_acquire():
            return False
    try:
        layout.locks.mkdir(parents=True, exist_ok=True)
        fd = os.open(layout.in_use_lock(in_use_name), os.O_RDWR | os.O_CREAT, 0o666)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            except OSError:
                pass  # no flock on this filesystem: the last-used age decided
            try:
                remove_tree(path)
            except OSError as exc:
                raise BootstrapError("gc", f"could not remove {path}: {exc}") from exc
        finally:
            os.close(fd)
    finally:
        if lock is not None:
            lock.release()
    return True
