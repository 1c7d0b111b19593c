"""A release's own code on the volume: code/<code-id>/, beside the shared dependency env.

The workspace members the runtime reaches (f5_runtime, f5_bootstrap) are copied from the
bundle's `src/` dirs and compiled to bytecode (checked by hash, never by mtime: the dir is
never changed once complete), in a staging dir renamed into place, with a marker. A worker
runs `<env>/bin/python -m f5_runtime` with the code dir first on PYTHONPATH, so releases that
share an env run side by side, each with exactly its code. A code dir costs about a second to
make (a few hundred KB), so no lock is taken: racing workers make identical copies and the
first rename wins.
"""

from __future__ import annotations

import compileall
import errno
import json
import os
import py_compile
import shutil
import sys
import time
import uuid
from pathlib import Path

from f5_bootstrap.errors import BootstrapError
from f5_bootstrap.layout import MARKER, STAGING_PREFIX, Layout, code_is_complete, read_marker
from f5_bootstrap.progress import Progress
from f5_bootstrap.trash import remove_tree

SKIPPED = ("__pycache__", "*.pyc", "*.pyo", "*.egg-info", ".*")


def ensure_code(
    layout: Layout, bundle: Path, code_id: str, members: tuple[str, ...], progress: Progress
) -> Path:
    """code/<code-id>, made from the bundle if it is not complete yet; returns its path."""
    code_dir = layout.code_dir(code_id)
    if code_is_complete(code_dir, code_id):
        return code_dir
    started = time.monotonic()
    layout.code.mkdir(parents=True, exist_ok=True)
    staging = layout.code / f"{STAGING_PREFIX}{code_id}-{uuid.uuid4().hex[:8]}"
    try:
        for member in members:
            source = bundle / member / "src"
            if not source.is_dir():
                raise BootstrapError(
                    "config",
                    f"the bundle's {member} has no src/ directory",
                    "the workspace members must use the src layout (packages/<name>/src/)",
                )
            shutil.copytree(
                source, staging, ignore=shutil.ignore_patterns(*SKIPPED), dirs_exist_ok=True
            )
            write_dist_info(bundle / member, staging)
        mode = py_compile.PycInvalidationMode.UNCHECKED_HASH
        if not compileall.compile_dir(staging, quiet=1, invalidation_mode=mode):
            raise BootstrapError("config", f"the bundle's code does not compile (see {staging})")
        marker = {
            "code_id": code_id,
            "members": list(members),
            "bundle": str(bundle),
            "python": sys.version.split()[0],
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "created_unix": time.time(),
        }
        (staging / f"{MARKER}.tmp").write_text(json.dumps(marker, indent=2) + "\n")
        os.replace(staging / f"{MARKER}.tmp", staging / MARKER)
        if code_dir.exists() and not code_is_complete(code_dir, code_id):
            progress(f"removing half-made code/{code_id}")
            remove_tree(code_dir)
        try:
            os.rename(staging, code_dir)
        except OSError as exc:
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY) and read_marker(code_dir):
                shutil.rmtree(staging, ignore_errors=True)  # another worker made it first
                return code_dir
            raise BootstrapError("finalize", f"could not move the code into place: {exc}") from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    progress(f"code {code_id} ready in {time.monotonic() - started:.1f} s ({', '.join(members)})")
    return code_dir


def write_dist_info(member: Path, target: Path) -> None:
    """A minimal `<name>-<version>.dist-info` for a copied member, so that the code dir's
    packages know their version (`importlib.metadata`, `f5-runtime --version`) like an
    installed distribution does: the pyproject's name and version, nothing else."""
    import tomllib

    try:
        project = tomllib.loads((member / "pyproject.toml").read_text())["project"]
        name, version = project["name"], project["version"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return  # a member without static metadata: its version reads "unknown"
    dist_info = target / f"{name.replace('-', '_')}-{version}.dist-info"
    dist_info.mkdir(exist_ok=True)
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    )
