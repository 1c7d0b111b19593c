"""Warm path of `f5-bootstrap run` (env complete -> exec line) vs a bare interpreter start.

    uv run --frozen python benchmarks/bootstrap_warm.py [--runs 40]

Uses the REAL bundle (this checkout: hashing its uv.lock and the workspace code the runtime
runs is the main cost; the lock's resolution comes from its memo on the volume) and a temp
volume holding a complete-looking env (marker + bin/python: all that the warm check looks
at), the release's code dir and its models marker. `--dry-run` stops where `run` would
exec. The commands are interleaved, so machine noise hits both alike; medians are reported.
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

from f5_bootstrap.code import ensure_code
from f5_bootstrap.config import Config
from f5_bootstrap.envid import current_release
from f5_bootstrap.layout import MARKER, Layout
from f5_bootstrap.models import models_key
from f5_bootstrap.progress import Progress

REPO = Path(__file__).resolve().parent.parent


def fake_complete_env(volume: Path) -> str:
    """A complete-looking env (marker + bin/python: all the warm check looks at), the real
    code dir for this checkout, and the models marker of the default model settings."""
    config = Config.from_env({"F5_VOLUME": str(volume), "F5_BUNDLE": str(REPO)})
    release = current_release(config)
    layout = Layout(config.root)
    env_dir = layout.env_dir(release.env_id)
    (env_dir / "bin").mkdir(parents=True)
    (env_dir / "bin" / "python").symlink_to(sys.executable)
    (env_dir / MARKER).write_text(json.dumps({"env_id": release.env_id}))
    code_dir = ensure_code(layout, REPO, release.code_id, release.members, Progress(None))
    marker = layout.models_marker(models_key(config, release.env_id, code_dir))
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text("{}")
    return release.env_id


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
