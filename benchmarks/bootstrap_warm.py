"""Warm path of `f5-bootstrap run` (env complete -> exec line) vs a bare interpreter start.

    uv run --frozen python benchmarks/bootstrap_warm.py [--runs 40]

Uses the REAL bundle (this checkout: hashing its uv.lock and f5-runtime source is the main
cost) and a temp volume holding a complete-looking env for it (marker + bin/python: all
that the warm check looks at). `--dry-run` stops where `run` would exec. The commands are
interleaved, so machine noise hits both alike; medians are reported.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from f5_bootstrap.config import Config
from f5_bootstrap.envid import compute_env_id
from f5_bootstrap.layout import MARKER, Layout

REPO = Path(__file__).resolve().parent.parent


def fake_complete_env(volume: Path) -> str:
    config = Config.from_env({"F5_VOLUME": str(volume), "F5_BUNDLE": str(REPO)})
    env_id = compute_env_id(REPO, config.extras)
    env_dir = Layout(config.root).env_dir(env_id)
    (env_dir / "bin").mkdir(parents=True)
    (env_dir / "bin" / "python").symlink_to(sys.executable)
    (env_dir / MARKER).write_text(json.dumps({"env_id": env_id}))
    return env_id


def time_once(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="f5-warm-") as tmp:
        env_id = fake_complete_env(Path(tmp))
        env = {k: v for k, v in os.environ.items() if not k.startswith("F5_")}
        env.update(F5_VOLUME=tmp, F5_BUNDLE=str(REPO))
        script = str(Path(sys.executable).parent / "f5-bootstrap")
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "python -m f5_bootstrap run --dry-run": [
                sys.executable,
                "-m",
                "f5_bootstrap",
                "run",
                "--dry-run",
            ],
            "f5-bootstrap run --dry-run": [script, "run", "--dry-run"],
        }
        out = subprocess.run(
            commands["f5-bootstrap run --dry-run"],
            env=env,
            text=True,
            capture_output=True,
            check=True,
        ).stdout
        assert env_id in out.splitlines()[0], out  # the warm path, not a build
        times: dict[str, list[float]] = {name: [] for name in commands}
        for cmd in commands.values():  # warm the page cache
            time_once(cmd, env)
        for _ in range(args.runs):
            for name, cmd in commands.items():
                times[name].append(time_once(cmd, env))
    base = statistics.median(times["python -c pass"])
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.node()}, {os.cpu_count()} cores, Python {sys.version.split()[0]}",
        "runs": args.runs,
        "median_ms": {name: round(statistics.median(t) * 1000, 1) for name, t in times.items()},
        "over_bare_ms": {
            name: round((statistics.median(t) - base) * 1000, 1) for name, t in times.items()
        },
        "lock_bytes": (REPO / "uv.lock").stat().st_size,
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
