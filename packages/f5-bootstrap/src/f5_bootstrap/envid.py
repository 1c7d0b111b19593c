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
BUILD_RECIPE = "1"
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
