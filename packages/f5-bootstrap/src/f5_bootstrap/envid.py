"""Environment identity: a short hash of everything that decides what an env contains.

Two images with the same lock, runtime source, interpreter and extras share one env; any
change gives a new env beside the old ones (never a rebuild under running workers).
Runs on the warm path: stdlib only, reads a few hundred KB.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterable
from pathlib import Path

from f5_bootstrap.config import RUNTIME_PACKAGE

# Bump when the way envs are built changes (uv flags, layout inside the env).
BUILD_RECIPE = "2"  # 2: f5-runtime synced with its runpod extra
ENV_ID_LENGTH = 16  # hex digits


def bundle_files(bundle: Path) -> list[Path]:
    """uv.lock, every pyproject.toml of the workspace, and the f5-runtime source files."""
    files = [bundle / "uv.lock", bundle / "pyproject.toml"]
    files += sorted(bundle.glob("packages/*/pyproject.toml"))
    source: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(bundle / RUNTIME_PACKAGE / "src"):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        source += [Path(dirpath) / f for f in filenames if not f.endswith((".pyc", ".pyo"))]
    return files + sorted(source)


def interpreter_identity() -> str:
    """The interpreter the env's bin/python points at: version, ABI, platform, location."""
    machine = os.uname().machine
    return "|".join(
        (sys.version, sys.implementation.cache_tag or "", sys.platform, machine, sys.base_prefix)
    )


def compute_env_id(bundle: Path, extras: Iterable[str] = ()) -> str:
    digest = hashlib.sha256()

    def add(label: str, data: bytes) -> None:
        digest.update(f"{label}\0{len(data)}\0".encode())
        digest.update(data)

    add("recipe", BUILD_RECIPE.encode())
    for path in bundle_files(bundle):
        if path.is_file():
            add(path.relative_to(bundle).as_posix(), path.read_bytes())
    add("interpreter", interpreter_identity().encode())
    add("extras", "\n".join(sorted(extras)).encode())
    return digest.hexdigest()[:ENV_ID_LENGTH]
