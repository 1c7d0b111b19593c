"""Cold provision of the REAL workspace lock into a new env on a temp volume, from a warm uv
cache: time per step and the env's size.

    uv run --frozen python benchmarks/bootstrap_cold.py [--link-mode copy] [--keep]

Uses the machine's uv cache (already warm after `uv sync`), copy mode (as on a volume where
the cache and env cannot share inodes) and compiled bytecode, as `f5-bootstrap provision`
does. flash-attn is skipped (no GPU, and its release host may be unreachable); the runtime's
healthcheck runs with F5_LOAD_FORMAT=dummy (models are a separate step: see
bootstrap_release.py).
Takes minutes and ~8 GB of disk; the temp volume is deleted afterwards unless --keep.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from f5_bootstrap.build import Builder
from f5_bootstrap.code import ensure_code
from f5_bootstrap.config import Config
from f5_bootstrap.envid import current_release
from f5_bootstrap.layout import Layout, tree_size
from f5_bootstrap.progress import Progress

REPO = Path(__file__).resolve().parent.parent


def uv_cache_dir() -> Path:
    out = subprocess.run(["uv", "cache", "dir"], capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--link-mode", default="copy", choices=["copy", "hardlink", "auto"])
    parser.add_argument("--keep", action="store_true", help="keep the temp volume")
    parser.add_argument("--tmp", default=None, help="where to make the temp volume")
    args = parser.parse_args()

    volume = Path(tempfile.mkdtemp(prefix="f5-cold-", dir=args.tmp))
    os.environ.update(
        F5_VOLUME=str(volume),
        F5_BUNDLE=str(REPO),
        F5_FLASH_ATTN="0",
        F5_UV_CACHE_DIR=str(uv_cache_dir()),
        F5_UV_LINK_MODE=args.link_mode,
        F5_LOAD_FORMAT="dummy",
    )
    config = Config.from_env()
    release = current_release(config)
    env_id = release.env_id
    layout = Layout(config.root)
    progress = Progress(layout.provision_log(env_id))
    code_dir = ensure_code(layout, REPO, release.code_id, release.members, progress)
    builder = Builder(config, REPO, layout, env_id, progress, code_dir=code_dir)
    steps = [
        ("venv", builder.make_venv),
        ("sync", builder.sync),
        ("healthcheck", builder.healthcheck),
    ]
    result: dict = {"env_id": env_id, "link_mode": args.link_mode, "failed": None}
    started = time.monotonic()
    try:
        for name, run in steps:
            try:
                run()
            except Exception as exc:  # report what was measured up to the failure
                result["failed"] = f"{name}: {str(exc).splitlines()[0]}"
                break
        result["total_s"] = round(time.monotonic() - started, 1)
        result["steps_s"] = builder.timings
        result["env_bytes"] = tree_size(builder.staging)
        result["env_files"] = sum(len(files) for _, _, files in os.walk(builder.staging))
        result["pyc_files"] = sum(
            f.endswith(".pyc") for _, _, files in os.walk(builder.staging) for f in files
        )
        result["machine"] = (
            f"{platform.node()} {os.cpu_count()} cores, Python {sys.version.split()[0]}"
        )
        result["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    finally:
        progress.close()
        if not args.keep:
            shutil.rmtree(volume, ignore_errors=True)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
