"""What uv.lock says about the runtime: its third-party resolution, and its workspace members.

The dependency env is keyed on the resolution only (every third-party package the runtime
reaches, with versions, sources and wheel hashes), so a release that changes only workspace
code (or a version number, or a dev tool) keeps the env. The workspace members the runtime
reaches (f5-runtime, f5-bootstrap) are its code: brought in per release (f5_bootstrap.code).

Parsing the 250 KB lock takes ~40 ms, too slow for every worker start, so the answer is
memoized on the volume under the sha256 of the lock's bytes (a memo can never go stale).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from f5_bootstrap.errors import BootstrapError

RUNTIME_DIST = "f5-runtime"  # the lock's name for the runtime package
# The runtime's extras the env is synced with (`uv sync --extra ...` in build.py): what they
# pull in is part of the resolution, so they are listed here, once.
RUNTIME_EXTRAS: tuple[str, ...] = ("runpod",)
MEMBER_SOURCES = ("editable", "virtual", "directory")  # how the lock marks workspace members
MEMO_VERSION = "1"  # bump when what `resolve` computes changes


@dataclass(frozen=True)
class Resolution:
    deps_digest: str  # sha256 of the runtime's third-party packages, as locked
    members: tuple[str, ...]  # bundle-relative dirs of the workspace members it reaches


def lock_sha256(bundle: Path) -> str:
    return hashlib.sha256((bundle / "uv.lock").read_bytes()).hexdigest()


def runtime_resolution(bundle: Path, memo_dir: Path | None) -> Resolution:
    """The runtime's resolution from the bundle's uv.lock (memoized in `memo_dir`)."""
    key = lock_sha256(bundle)
    name = "-".join((key[:32], MEMO_VERSION, *RUNTIME_EXTRAS))
    memo = memo_dir / f"{name}.json" if memo_dir else None
    if memo is not None:
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            data = json.loads(memo.read_text())
            if data["lock_sha256"] == key:
                return Resolution(data["deps_digest"], tuple(data["members"]))
    resolution = resolve((bundle / "uv.lock").read_text())
    if memo is not None:
        with contextlib.suppress(OSError):  # a read-only volume just parses every time
            memo.parent.mkdir(parents=True, exist_ok=True)
            staging = memo.with_name(f".{memo.name}.{os.uname().nodename}-{os.getpid()}")
            body = {"lock_sha256": key, **resolution.__dict__, "members": list(resolution.members)}
            staging.write_text(json.dumps(body))
            os.replace(staging, memo)
    return resolution


def resolve(lock_text: str) -> Resolution:
    """Walk the lock from the runtime through its (non-dev) dependencies and their extras."""
    import tomllib  # only on a memo miss

    try:
        packages = tomllib.loads(lock_text).get("package", [])
    except tomllib.TOMLDecodeError as exc:
        raise BootstrapError("config", f"the bundle's uv.lock is not valid TOML: {exc}") from exc
    by_name: dict[str, list[dict]] = {}
    for package in packages:
        by_name.setdefault(package["name"], []).append(package)
    if RUNTIME_DIST not in by_name:
        raise BootstrapError(
            "config",
            f"the bundle's uv.lock has no {RUNTIME_DIST} package",
            "point F5_BUNDLE at the workspace whose lock includes packages/f5-runtime",
        )
    third_party: dict[str, dict] = {}
    members: dict[str, dict] = {}
    todo: list[tuple[dict, tuple[str, ...]]] = [
        (package, RUNTIME_EXTRAS) for package in by_name[RUNTIME_DIST]
    ]
    seen: set[tuple[str, str, tuple[str, ...]]] = set()
    while todo:
        package, extras = todo.pop()
        key = (package["name"], str(package.get("version")), tuple(extras))
        if key in seen:
            continue
        seen.add(key)
        source = package.get("source", {})
        member = next((source[kind] for kind in MEMBER_SOURCES if kind in source), None)
        if member is not None:
            # Only what a member pulls in shapes the env, not its version or code.
            members[member] = {
                "name": package["name"],
                "dependencies": package.get("dependencies", []),
                "optional-dependencies": package.get("optional-dependencies", {}),
            }
        else:
            third_party[f"{package['name']}=={package.get('version')}"] = package
        wanted = list(package.get("dependencies", []))
        for extra in extras:
            wanted += package.get("optional-dependencies", {}).get(extra, [])
        for dep in wanted:
            for target in by_name.get(dep["name"], []):
                if "version" in dep and target.get("version") != dep["version"]:
                    continue
                todo.append((target, tuple(dep.get("extra", ()))))
    canonical = json.dumps(
        {"packages": third_party, "members": sorted(members.values(), key=lambda m: m["name"])},
        sort_keys=True,
        separators=(",", ":"),
    )
    return Resolution(hashlib.sha256(canonical.encode()).hexdigest(), tuple(sorted(members)))
