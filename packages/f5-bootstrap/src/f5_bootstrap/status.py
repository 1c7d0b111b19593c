"""`status`: the envs on the volume, which one the bundle maps to, and who holds what."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
import time
from pathlib import Path
from typing import TextIO

from f5_bootstrap.build import tree_size
from f5_bootstrap.config import Config
from f5_bootstrap.envid import compute_env_id
from f5_bootstrap.layout import LAST_USED, STAGING_PREFIX, TRASH_PREFIX, Layout, read_marker
from f5_bootstrap.lock import lock_holder


def current_env_id(config: Config) -> str | None:
    return compute_env_id(config.bundle, config.extras) if config.bundle else None


def in_use(layout: Layout, env_id: str) -> bool:
    """Whether a running worker holds the env's in-use lock (see launch.hold_in_use)."""
    path = layout.in_use_lock(env_id)
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False  # no flock here: only the last-used age counts
    finally:
        os.close(fd)  # closing drops our lock, if we got it
    return False


def last_used(env_dir: Path, marker: dict | None) -> float:
    """Unix time of the last `run` from this env, else of its completion, else of the dir."""
    with contextlib.suppress(OSError):
        return (env_dir / LAST_USED).stat().st_mtime
    if marker and isinstance(marker.get("created_unix"), int | float):
        return float(marker["created_unix"])
    return env_dir.stat().st_mtime


def env_entries(config: Config, current: str | None) -> list[dict]:
    """One dict per env dir on the volume; `current` is the bundle's env-id (current_env_id)."""
    layout = Layout(config.root)
    entries = []
    dirs = sorted(layout.envs.iterdir()) if layout.envs.is_dir() else []
    for env_dir in dirs:
        name = env_dir.name
        if not env_dir.is_dir() or name.startswith(TRASH_PREFIX):
            continue
        staging = name.startswith(STAGING_PREFIX)
        env_id = name[len(STAGING_PREFIX) :].rsplit("-", 1)[0] if staging else name
        marker = None if staging else read_marker(env_dir)
        complete = bool(marker) and marker.get("env_id") == env_id
        size = marker.get("size_bytes") if complete else None
        holder = lock_holder(layout.env_lock(env_id), config.stale_lock_s)
        entries.append(
            {
                "env_id": env_id,
                "path": str(env_dir),
                "current": env_id == current and not staging,
                "complete": complete,
                "staging": staging,
                "size_bytes": size if isinstance(size, int) else tree_size(env_dir),
                "created": marker.get("created") if complete else None,
                "last_used": last_used(env_dir, marker),
                "in_use": in_use(layout, env_id),
                "flash_attn": marker.get("flash_attn") if complete else None,
                "lock_holder": holder.to_json() if holder else None,
            }
        )
    return entries


def collect(config: Config) -> dict:
    current = current_env_id(config)
    entries = env_entries(config, current)
    return {
        "volume": str(config.volume),
        "root": str(config.root),
        "bundle": str(config.bundle) if config.bundle else None,
        "current_env_id": current,
        "current_complete": any(e["current"] and e["complete"] for e in entries),
        "envs": entries,
    }


def show(config: Config, as_json: bool, out: TextIO = sys.stdout) -> int:
    report = collect(config)
    if as_json:
        out.write(json.dumps(report, indent=2) + "\n")
        return 0
    out.write(f"volume  {report['volume']} (root {report['root']})\n")
    out.write(f"bundle  {report['bundle'] or '-'}\n")
    state = "complete" if report["current_complete"] else "not built"
    out.write(f"current {report['current_env_id'] or '-'} ({state})\n")
    for e in report["envs"]:
        flags = [
            "current" if e["current"] else "",
            "complete" if e["complete"] else ("building" if e["staging"] else "incomplete"),
            "in use" if e["in_use"] else "",
        ]
        used = time.strftime("%Y-%m-%d %H:%M", time.localtime(e["last_used"]))
        holder = e["lock_holder"]
        locked = f", locked by {holder['host']} pid {holder['pid']}" if holder else ""
        out.write(
            f"  {e['env_id']}  {e['size_bytes'] / 1e9:6.2f} GB  last used {used}  "
            f"{', '.join(f for f in flags if f)}{locked}\n"
        )
    return 0
