"""Identities: the dependency env's and the release code's, short hashes of what decides them.

    env-id  = sha256(build recipe, the runtime's third-party resolution in uv.lock,
                     the interpreter, the extras)[:16]      -> envs/<env-id>   (8.7 GB)
    code-id = sha256(code recipe, the source of the workspace members the runtime reaches,
                     the interpreter's bytecode tag)[:16]   -> code/<code-id>  (~1 MB)

A release that changes only workspace code keeps its env and gets a new code dir beside the
old ones; a new lock resolution gets a new env. Neither is ever rebuilt under running workers.
Runs on the warm path: stdlib only (the lock's resolution is memoized, see lockfile).
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from f5_bootstrap.config import Config
from f5_bootstrap.layout import Layout
from f5_bootstrap.lockfile import runtime_resolution

# Bump when the way envs are built changes (uv flags, layout inside the env).
BUILD_RECIPE = "2"  # 2: third-party packages only (with the runtime's runpod extra); code in code/
# Bump when the way code dirs are made changes.
CODE_RECIPE = "1"
ID_LENGTH = 16  # hex digits
ENV_ID_LENGTH = ID_LENGTH


def member_sources(bundle: Path, members: Iterable[str]) -> list[Path]:
    """Every source file under <member>/src of the given workspace members (no bytecode)."""
    files: list[Path] = []
    for member in members:
        for dirpath, dirnames, filenames in os.walk(bundle / member / "src"):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            files += [Path(dirpath) / f for f in filenames if not f.endswith((".pyc", ".pyo"))]
    return sorted(files)


def interpreter_identity() -> str:
    """The interpreter the env's bin/python points at: version, ABI, platform, location.

    Not `sys.version`: it carries the build date and compiler, which change with every
    rebuild of the same Python release (a new base image) without changing what the env
    needs. What does matter: the release (wheels and bytecode are per version), the
    implementation's cache tag, the ABI flags, the platform, and where the interpreter lives
    (the env's bin/python is a link to it).
    """
    version = ".".join(str(part) for part in sys.version_info[:3])
    return "|".join(
        (
            version,
            sys.implementation.cache_tag or "",
            sys.abiflags,
            sys.platform,
            os.uname().machine,
            sys.base_prefix,
        )
    )


class _Digest:
    def __init__(self) -> None:
        self._hash = hashlib.sha256()

    def add(self, label: str, data: bytes) -> None:
        self._hash.update(f"{label}\0{len(data)}\0".encode())
        self._hash.update(data)

    def short(self) -> str:
        return self._hash.hexdigest()[:ID_LENGTH]


def compute_env_id(
    bundle: Path, extras: Iterable[str] = (), memo_dir: Path | None = None
) -> str:
    return release_of(bundle, extras, memo_dir).env_id


def compute_code_id(bundle: Path, memo_dir: Path | None = None) -> str:
    return release_of(bundle, (), memo_dir).code_id


@dataclass(frozen=True)
class Release:
    """What one bundle runs: its dependency env and its own code."""

    env_id: str
    code_id: str
    members: tuple[str, ...]  # bundle-relative dirs of the workspace members in the code


def release_of(bundle: Path, extras: Iterable[str], memo_dir: Path | None) -> Release:
    resolution = runtime_resolution(bundle, memo_dir)
    env = _Digest()
    env.add("recipe", BUILD_RECIPE.encode())
    env.add("resolution", resolution.deps_digest.encode())
    env.add("interpreter", interpreter_identity().encode())
    env.add("extras", "\n".join(sorted(extras)).encode())
    code = _Digest()
    code.add("recipe", CODE_RECIPE.encode())
    code.add("bytecode", (sys.implementation.cache_tag or "").encode())
    for path in member_sources(bundle, resolution.members):
        code.add(path.relative_to(bundle).as_posix(), path.read_bytes())
    return Release(env.short(), code.short(), resolution.members)


def current_release(config: Config) -> Release:
    """The release of the configured bundle (its lock memoized on the volume)."""
    return release_of(config.require_bundle(), config.extras, Layout(config.root).lock_digests)
