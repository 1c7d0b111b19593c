"""Worker start to "ready", step by step, and what the first jobs then take.

Starts the queue worker's set-up (`worker.build_handler`, everything before the RunPod SDK
takes over) in a fresh interpreter under `python -X importtime`, with real-size random
weights (F5_LOAD_FORMAT=dummy, F5TTS_v1_Base, real-size Vocos, CPU), then runs two identical
short jobs through the handler (text, the built-in voice, NFE 4, verification off, inline
output). Reports:
- imports: every import until ready (the sum of -X importtime's top-level entries), and the
  biggest ones;
- the engines' own steps (imports, tts_load, aligner_load, warmup: `start_steps`) where the
  tree has them;
- ready: spawn to the handler built; first and second job (the first one's extra time is
  what the warm-up moves before "ready");
- whether sklearn, torchvision, matplotlib, transformers.pipelines, wandb were imported.

    uv run --frozen python benchmarks/worker_start.py [--compare DIR] [--rounds N]
        [--model F5TTS_v1_Base|tiny] [--jobs 2] [--this-env NAME=VALUE] [--json OUT]

`--compare DIR`: also measure another checkout of this repository (e.g. `git archive main |
tar -x -C DIR`), in turn with this one, and print the ratios of the medians; its f5-runtime
and f5-bootstrap sources go first on PYTHONPATH (the venv is this one's). Wall times on a
shared machine swing with its load: the CPU time of the start is reported beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WATCHED = ("sklearn", "torchvision", "matplotlib", "transformers.pipelines", "wandb",
           "datasets", "f5_tts.infer.utils_infer", "faster_whisper")
JOB = {"text": "One short sentence for the first job.", "voice": "en-default",
       "options": {"nfe_steps": 4, "verify": "off", "seed": 1}}

CHILD = """
import time
entered = time.time()
import json, sys
from f5_runtime.config import Settings
from f5_runtime.serving import worker
handler = worker.build_handler(Settings.from_env())
ready, ready_cpu = time.time(), time.process_time()
print("READY-MARK", file=sys.stderr, flush=True)  # imports after this are the jobs'
loaded = [m for m in %(watched)r if m in sys.modules]
jobs = []
for i in range(%(jobs)d):
    t, c = time.perf_counter(), time.process_time()
    out = handler({"id": f"start-{i}", "input": %(job)r})
    assert "error" not in out, out
    jobs.append((time.perf_counter() - t, time.process_time() - c))
print("RESULT " + json.dumps({"entered": entered, "ready": ready, "ready_cpu": ready_cpu,
    "jobs": jobs, "steps": getattr(handler.engines, "start_steps", {}), "loaded": loaded}),
    flush=True)
"""


def import_times(stderr: str) -> tuple[float, list[tuple[str, float]]]:
    """(total seconds of imports until ready, the biggest top-level ones) from -X
    importtime's lines (cumulative microseconds; nested imports are indented)."""
    top = []
    for line in stderr.split("READY-MARK")[0].splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+(\d+) \|( +)(\S+)", line)
        if m and len(m[2]) == 1:  # one space: a top-level import
            top.append((m[3], int(m[1]) / 1e6))
    return sum(s for _, s in top), sorted(top, key=lambda x: -x[1])[:6]


def run_once(src: Path | None, model: str, jobs: int, extra: dict[str, str]) -> dict:
    env = {**os.environ, "F5_LOAD_FORMAT": "dummy", "F5_TTS_MODEL": model, "F5_DEVICE": "cpu",
           **extra}
    env.pop("F5_ENGINES", None)
    if src is not None:
        paths = [src / "packages" / p / "src" for p in ("f5-runtime", "f5-bootstrap")]
        env["PYTHONPATH"] = os.pathsep.join(map(str, paths))
    with tempfile.TemporaryDirectory() as volume:
        env["F5_VOLUME"] = volume
        spawned = time.time()
        proc = subprocess.run([sys.executable, "-X", "importtime", "-c",
                               CHILD % {"watched": WATCHED, "job": JOB, "jobs": jobs}],
                              env=env, capture_output=True, text=True, timeout=1800)
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    if proc.returncode or not lines:
        raise SystemExit(f"the start failed:\n{proc.stderr[-3000:]}")
    child = json.loads(lines[-1].removeprefix("RESULT "))
    imports, biggest = import_times(proc.stderr)
    return {
        "imports_s": imports,
        "biggest_imports": biggest,
        "steps": child["steps"],
        "ready_s": child["ready"] - spawned,
        "ready_cpu_s": child["ready_cpu"],  # the start's own CPU time: steadier when shared
        "jobs_s": [wall for wall, _cpu in child["jobs"]],
        "jobs_cpu_s": [cpu for _wall, cpu in child["jobs"]],
        "loaded": child["loaded"],
    }


def show(label: str, r: dict) -> None:
    steps = ", ".join(f"{k} {v:.1f}" for k, v in r["steps"].items()) or "(not reported)"
    jobs = ", ".join(f"{w:.1f} s (CPU {c:.1f})" for w, c in zip(r["jobs_s"], r["jobs_cpu_s"],
                                                                  strict=True))
    print(f"{label}: imports {r['imports_s']:.1f} s | engine steps: {steps} | ready "
          f"{r['ready_s']:.1f} s (CPU {r['ready_cpu_s']:.1f} s) | jobs: {jobs or '-'} | "
          f"imported: {', '.join(r['loaded']) or 'none of the watched'}")
    print("  biggest imports: " + ", ".join(f"{m} {s:.1f}" for m, s in r["biggest_imports"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--src", type=Path, help="another checkout to measure")
    parser.add_argument("--compare", type=Path,
                        help="another checkout, measured in turn with this one (--rounds each)")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--model", default="F5TTS_v1_Base", help="F5TTS_v1_Base or tiny")
    parser.add_argument("--jobs", type=int, default=2, help="jobs run after ready")
    parser.add_argument("--this-env", action="append", default=[], metavar="NAME=VALUE",
                        help="a variable for this checkout's runs only (e.g. F5_WARMUP=0)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    extra = {"this": dict(item.split("=", 1) for item in args.this_env), "other": {}}
    trees = {"this": args.src} if args.compare is None else {"other": args.compare,
                                                              "this": args.src}
    results: dict[str, list[dict]] = {label: [] for label in trees}
    for _ in range(args.rounds):
        for label, src in trees.items():  # interleaved: the machine's load hits both alike
            results[label].append(run_once(src, args.model, args.jobs, extra[label]))
            show(label, results[label][-1])
    if args.compare is not None:
        for key in ("imports_s", "ready_s", "ready_cpu_s"):
            ratio = statistics.median(r[key] for r in results["other"]) / statistics.median(
                r[key] for r in results["this"])
            print(f"{key}: other/this = {ratio:.2f} (medians of {args.rounds})")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
