"""`status`: the envs and code dirs on the volume, which ones the bundle maps to, who holds
what."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
import time
from pathlib import Path
from typing import TextIO

from f5_bootstrap.config import Config
from f5_bootstrap.envid import Release, current_release
from f5_bootstrap.launch import code_lock_name
from f5_bootstrap.layout import (
    LAST_USED,
    STAGING_PREFIX,
    TRASH_PREFIX,
    Layout,
    find_complete_code,
    find_complete_env,
    read_marker,
    tree_size,
)
from f5_bootstrap.lock import lock_holder
from f5_bootstrap.models import models_key, models_ready


def current(config: Config) -> Release | None:
    return current_release(config) if config.bundle else None


def in_use(layout: Layout, name: str) -> bool:
    """Whether a running worker holds this in-use lock (see launch.hold_in_use)."""
    path = layout.in_use_lock(name)
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


def last_used(path: Path, marker: dict | None) -> float:
    """Unix time of the last `run` from this dir, else of its completion, else of the dir."""
    with contextlib.suppress(OSError):
        return (path / LAST_USED).stat().st_mtime
    if marker and isinstance(marker.get("created_unix"), int | float):
        return float(marker["created_unix"])
    return path.stat().st_mtime


def _entries(parent: Path, id_key: str, current_id: str | None) -> list[dict]:
    """The fields common to env and code dirs, for each under `parent` (staging included);
    `_marker` is the marker of a complete one, for the caller to take more from."""
    out = []
    for path in sorted(parent.iterdir()) if parent.is_dir() else []:
        name = path.name
        if not path.is_dir() or name.startswith(TRASH_PREFIX):
            continue
        staging = name.startswith(STAGING_PREFIX)
        item_id = name[len(STAGING_PREFIX) :].rsplit("-", 1)[0] if staging else name
        marker = None if staging else read_marker(path)
        complete = bool(marker) and marker.get(id_key) == item_id
        size = marker.get("size_bytes") if complete else None
        fields = {
            id_key: item_id,
            "path": str(path),
            "current": item_id == current_id and not staging,
            "complete": complete,
            "staging": staging,
            "size_bytes": size if isinstance(size, int) else tree_size(path),
            "created": marker.get("created") if complete else None,
            "last_used": last_used(path, marker),
        }
        out.append({**fields, "_marker": marker if complete else None})
    return out


def env_entries(config: Config, current_env_id: str | None) -> list[dict]:
    """One dict per env dir on the volume."""
    layout = Layout(config.root)
    entries = []
    for entry in _entries(layout.envs, "env_id", current_env_id):
        marker = entry.pop("_marker")
        holder = lock_holder(layout.env_lock(entry["env_id"]))
        entry.update(
            in_use=in_use(layout, entry["env_id"]),
            flash_attn=marker.get("flash_attn") if marker else None,
            lock_holder=holder.to_json() if holder else None,
        )
        entries.append(entry)
    return entries


def code_entries(config: Config, current_code_id: str | None) -> list[dict]:
    """One dict per code dir (a release's own code) on the volume."""
    layout = Layout(config.root)
    entries = []
    for entry in _entries(layout.code, "code_id", current_code_id):
        marker = entry.pop("_marker")
        entry.update(
            in_use=in_use(layout, code_lock_name(entry["code_id"])),
            members=marker.get("members") if marker else None,
        )
        entries.append(entry)
    return entries


def collect(config: Config) -> dict:
    release = current(config)
    envs = env_entries(config, release.env_id if release else None)
    code = code_entries(config, release.code_id if release else None)
    layout = Layout(config.root)
    # Where `run` would find the current release: the image's root first, then the volume.
    env_dir = find_complete_env(layout, release.env_id, config.image_root) if release else None
    code_dir = find_complete_code(layout, release.code_id, config.image_root) if release else None
    key = models_key(config, release.env_id, code_dir) if release and code_dir else None
    return {
        "volume": str(config.volume),
        "root": str(config.root),
        "image_root": str(config.image_root) if config.image_root else None,
        "bundle": str(config.bundle) if config.bundle else None,
        "current_env_id": release.env_id if release else None,
        "current_code_id": release.code_id if release else None,
        "current_env_dir": str(env_dir) if env_dir else None,
        "current_code_dir": str(code_dir) if code_dir else None,
        "current_complete": env_dir is not None and code_dir is not None,
        "current_models_key": key,
        "current_models_ready": bool(key) and models_ready(layout, key),
        "envs": envs,
        "code": code,
    }


def show(config: Config, as_json: bool, out: TextIO = sys.stdout) -> int:
    report = collect(config)
    if as_json:
        out.write(json.dumps(report, indent=2) + "\n")
        return 0
    out.write(f"volume  {report['volume']} (root {report['root']})\n")
    out.write(f"bundle  {report['bundle'] or '-'}\n")
    if report["image_root"]:
        found = report["current_env_dir"] or "-"
        out.write(f"image   {report['image_root']} (current env found at {found})\n")
    state = "complete" if report["current_complete"] else "not built"
    out.write(
        f"current env {report['current_env_id'] or '-'}, code {report['current_code_id'] or '-'}"
        f" ({state}); models {report['current_models_key'] or '-'} "
        f"({'fetched' if report['current_models_ready'] else 'not fetched'})\n"
    )
    for kind in ("envs", "code"):
        out.write(f"{kind}:\n")
        for e in report[kind]:
            flags = [
                "current" if e["current"] else "",
                "complete" if e["complete"] else ("building" if e["staging"] else "incomplete"),
                "in use" if e["in_use"] else "",
            ]
            used = time.strftime("%Y-%m-%d %H:%M", time.localtime(e["last_used"]))
            holder = e.get("lock_holder")
            locked = f", locked by {holder['host']} pid {holder['pid']}" if holder else ""
            item_id = e.get("env_id") or e.get("code_id")
            out.write(
                f"  {item_id}  {e['size_bytes'] / 1e9:6.2f} GB  last used {used}  "
                f"{', '.join(f for f in flags if f)}{locked}\n"
            )
    return 0
