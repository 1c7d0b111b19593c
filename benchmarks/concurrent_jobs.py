"""Concurrent jobs against jobs one at a time, and what the engine scheduler itself costs.

N identical-shape jobs (a voice, three sentences, verification off) run through the worker's
own handler with the real f5-tts and aligner code on tiny random weights (CPU), in one
process and one run:
- one after another (what a worker did before it took concurrent jobs);
- all at once, each on its own thread, the way the concurrent worker and the HTTP server run
  them (serving/concurrent.py): their CPU stages (decode, align, encode, subtitles) overlap
  and the engine scheduler batches their chunks (F5_TTS_BATCH_FRAMES);
- all at once with batching off (one chunk per sampler call), to separate the two effects.
It reports the wall time of each as a ratio to one-at-a-time, the scheduler's counters
(batches, largest batch, cross-job batches) and its own overhead per batch (choosing a batch
and settling its tickets, outside the engine calls).

    uv run --frozen python benchmarks/concurrent_jobs.py [--jobs 8] [--nfe 8]

Prints markdown; writes benchmarks/out/concurrent_jobs.json.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import json
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from runtime.conftest import wav_bytes  # noqa: E402

TEXT = ("The first sentence sets the scene. The second one carries on for a while. "
        "And the third brings it to an end.")


def job(i: int, voice: str, nfe: int) -> dict:
    return {"id": f"bench-{i}", "input": {
        "text": TEXT, "voice_reference_url": voice, "voice_reference_text": "a short voice",
        "options": {"seed": i, "nfe_steps": nfe, "verify": "off", "create_subtitles": True}}}


def run_all(handler, jobs: list[dict], at_once: bool) -> float:
    """Seconds for every job (each must succeed)."""
    results: list[dict] = []
    t0 = time.perf_counter()
    if at_once:
        threads = [threading.Thread(target=lambda j=j: results.append(handler.run(j)))
                   for j in jobs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    else:
        results = [handler.run(j) for j in jobs]
    seconds = time.perf_counter() - t0
    failed = [r for r in results if "error" in r]
    if failed or len(results) != len(jobs):
        raise SystemExit(f"a job failed: {failed[:1]}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--nfe", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2, help="repeats of each case (best)")
    args = parser.parse_args()

    from f5_runtime.config import Settings
    from f5_runtime.engines import load_engines
    from f5_runtime.flow.scheduler import scheduler_for
    from f5_runtime.io.storage import Storage
    from f5_runtime.serving.worker import Handler

    voice = "data:audio/wav;base64," + base64.b64encode(wav_bytes(3.0, 24_000)).decode()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.from_env({**os.environ, "F5_LOAD_FORMAT": "dummy",
                                      "F5_TTS_MODEL": "tiny", "F5_TMP_DIR": tmp})
        engines = load_engines(settings)
        handler = Handler(engines, Storage(settings), settings)
        scheduler = scheduler_for(engines)
        jobs = [job(i, voice, args.nfe) for i in range(args.jobs)]
        run_all(handler, jobs[:2], at_once=True)  # warm-up: first calls, imports

        # (on CPU the engines sample one chunk per call; the batched case asks for batches
        # of F5_TTS_BATCH_FRAMES anyway, as on a GPU)
        batch_frames = settings.tts_batch_frames
        cases = {}
        for name, at_once, frames in (("one at a time", False, 0),
                                      ("all at once, batched", True, batch_frames),
                                      ("all at once, one chunk per call", True, 0)):
            scheduler.batch_frames = frames
            before = scheduler.counters.snapshot()
            times = [run_all(handler, jobs, at_once) for _ in range(args.rounds)]
            best = min(times)
            after = scheduler.counters.snapshot()
            batches = after["batches"] - before["batches"]
            sizes = after["batch_sizes"][len(before["batch_sizes"]):]
            cases[name] = {
                "seconds": round(best, 3),
                "batches": batches // args.rounds,
                "largest_batch": max(sizes, default=0),
                "cross_job_batches": (after["cross_job_batches"]
                                      - before["cross_job_batches"]) // args.rounds,
                "scheduler_overhead_us_per_batch": round(
                    1e6 * (after["overhead_seconds"] - before["overhead_seconds"])
                    / max(batches, 1), 1),
                "device_busy_share": round(  # of the wall time, all rounds together
                    (after["busy_seconds"] - before["busy_seconds"]) / sum(times), 3),
            }
        scheduler.batch_frames = None

    base = cases["one at a time"]["seconds"]
    for case in cases.values():
        case["ratio_to_one_at_a_time"] = round(case["seconds"] / base, 3)
    report = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                   f"Python {platform.python_version()}",
        "jobs": args.jobs, "nfe": args.nfe, "batch_frames": batch_frames, "cases": cases,
    }
    out_dir = ROOT / "benchmarks" / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "concurrent_jobs.json").write_text(json.dumps(report, indent=2) + "\n")

    print(f"{report['date']}, {report['machine']}; {args.jobs} jobs of 3 sentences, tiny random "
          f"weights, nfe {args.nfe}, best of {args.rounds}\n")
    print("| case | wall | ratio | sampler calls | largest batch | cross-job batches | "
          "scheduler overhead / batch | device busy |")
    print("|---|---|---|---|---|---|---|---|")
    for name, c in cases.items():
        print(f"| {name} | {c['seconds']} s | **{c['ratio_to_one_at_a_time']}** | "
              f"{c['batches']} | {c['largest_batch']} | {c['cross_job_batches']} | "
              f"{c['scheduler_overhead_us_per_batch']} µs | {c['device_busy_share']:.0%} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
