"""A code-only release on a provisioned volume: time to ready, with the REAL workspace lock.

    uv run --frozen python benchmarks/bootstrap_release.py [--link-mode auto] [--tmp DIR]

1. `f5-bootstrap provision` of this checkout onto a new temp volume, from the machine's warm
   uv cache (the cold start of a first release; before env-ids ignored the runtime's code,
   every code-only release cost this too);
2. one line of f5-runtime's source changed (a code-only release), `provision` again: what a
   code-only release costs now (a new code dir; the env and the models are kept);
3. `run --dry-run` of the new release (the warm path afterwards).
flash-attn is skipped (no GPU here); the runtime's healthcheck and fetch-models run with
F5_LOAD_FORMAT=dummy (no weights). Takes minutes and ~9 GB of disk (deleted afterwards).
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

REPO = Path(__file__).resolve().parent.parent


def copy_bundle(dest: Path) -> Path:
    """What the image bakes: the workspace's pyproject files, uv.lock, the packages' source."""
    dest.mkdir(parents=True)
    for name in ("pyproject.toml", "uv.lock"):
        shutil.copy(REPO / name, dest / name)
    for package in (REPO / "packages").iterdir():
        target = dest / "packages" / package.name
        target.mkdir(parents=True)
        for name in ("pyproject.toml", "README.md"):
            shutil.copy(package / name, target / name)
        shutil.copytree(package / "src", target / "src",
                        ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{cmd} failed:\n{proc.stdout}\n{proc.stderr}")
    return elapsed, proc.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--link-mode", default="auto", choices=["auto", "copy", "hardlink"])
    parser.add_argument("--tmp", default=None, help="where to make the temp volume and bundle")
    args = parser.parse_args()
    cache = subprocess.run(["uv", "cache", "dir"], capture_output=True, text=True, check=True)
    work = Path(tempfile.mkdtemp(prefix="f5-release-", dir=args.tmp))
    try:
        bundle = copy_bundle(work / "bundle")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("F5_", "VIRTUAL_ENV"))}
        env.update(F5_VOLUME=str(work / "volume"), F5_BUNDLE=str(bundle), F5_FLASH_ATTN="0",
                   F5_UV_CACHE_DIR=cache.stdout.strip(), F5_UV_LINK_MODE=args.link_mode,
                   F5_LOAD_FORMAT="dummy", UV_PYTHON_DOWNLOADS="never")
        bootstrap = [sys.executable, "-m", "f5_bootstrap"]
        cold_s, cold_out = timed([*bootstrap, "provision"], env)
        init = bundle / "packages/f5-runtime/src/f5_runtime/__init__.py"
        init.write_text(init.read_text() + "# a code-only release\n")
        release_s, release_out = timed([*bootstrap, "provision"], env)
        warm_s, _ = timed([*bootstrap, "run", "--dry-run"], env)
        envs = sorted(p.name for p in (work / "volume/f5tts/envs").iterdir())
        code = sorted(p.name for p in (work / "volume/f5tts/code").iterdir())
        print(cold_out[-1500:], release_out, sep="\n---\n", file=sys.stderr)
        result = {
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "machine": f"{platform.node()}, {os.cpu_count()} cores, "
            f"Python {sys.version.split()[0]}",
            "link_mode": args.link_mode,
            "first_release_provision_s": round(cold_s, 1),
            "code_only_release_provision_s": round(release_s, 2),
            "warm_run_dry_run_s": round(warm_s, 3),
            "ratio_before_over_after": round(cold_s / release_s, 1),
            "envs": envs,
            "code_dirs": code,
        }
        print(json.dumps(result, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
