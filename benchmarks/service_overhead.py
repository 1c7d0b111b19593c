"""Per-job service overhead outside the engines, through RunPod's local API server.

What it measures: a 10 s job end to end, as a client sees it (POST /runsync on the SDK's own
local API server) and as the worker reports it (`processing_time` and per-stage `timings`):
validation, fetching the inputs from S3 (moto server on loopback), decoding, encoding,
subtitles, publishing to S3 (+ presigned URLs) and removing the job's temp dir. The engines
are the deterministic test engine (a tone, evenly spaced words), whose own time is reported
and subtracted. Two job kinds: the seed's dubbing job (10 s reference + 10 s source -> 10 s
of speech + ASS) and subtitling a 10 s recording (align known text -> ASS).

    uv run --frozen python benchmarks/service_overhead.py [--jobs 30]

Prints a markdown table; writes benchmarks/out/service_overhead.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from fixtures.api_server import start_api_server, stop_api_server  # noqa: E402
from fixtures.s3 import start_moto  # noqa: E402
from runtime.conftest import ENGINE_DOUBLE, wav_bytes  # noqa: E402

logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's per-request lines

CLIP_SECONDS = 10.0
# the engines' own time (the test engine's, here): every stage a model call runs in
ENGINE_STAGES = ("reference", "generate", "vocode", "align", "transcribe")
TEXT = ("This is a ten second clip used to measure what the service costs around the models: "
        "validation, storage, subtitles and cleanup, for every single job.")


def measure(server, job_input: dict, jobs: int, warmup: int = 3) -> dict:
    client, worker, outside = [], [], []
    stages: dict[str, list[float]] = {}
    for i in range(warmup + jobs):
        t0 = time.perf_counter()
        response = server.runsync(job_input)
        wall = time.perf_counter() - t0
        if response.get("status") != "COMPLETED":
            raise SystemExit(f"job failed: {response}")
        if i < warmup:
            continue
        out = response["output"]
        engine = sum(out["timings"].get(s, 0.0) for s in ENGINE_STAGES)
        client.append(wall)
        worker.append(out["processing_time"])
        outside.append(out["processing_time"] - engine)
        for name, seconds in out["timings"].items():
            stages.setdefault(name, []).append(seconds)
    ms = lambda xs: round(1000 * statistics.median(xs), 1)  # noqa: E731
    return {
        "jobs": jobs,
        "client_wall_ms": ms(client),
        "worker_processing_ms": ms(worker),
        "overhead_outside_engines_ms": ms(outside),
        "stages_ms": {name: ms(values) for name, values in stages.items()},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=30, help="measured jobs per kind (>= 20)")
    args = parser.parse_args()

    s3 = start_moto()
    s3.client.create_bucket(Bucket="bench")
    s3.put("bench", "reference.wav", wav_bytes(CLIP_SECONDS, 24_000))
    s3.put("bench", "source.wav", wav_bytes(CLIP_SECONDS, 24_000))
    with tempfile.TemporaryDirectory() as tmp:
        env = {**s3.env(), "F5_ENGINES": ENGINE_DOUBLE,
               "PYTHONPATH": str(ROOT / "tests"), "F5_TMP_DIR": str(Path(tmp) / "jobs")}
        server = start_api_server(env, Path(tmp) / "server")
        try:
            dubbing = measure(server, {
                "audio_url": "s3://bench/source.wav", "voice_reference_url": "s3://bench/reference.wav",
                "text": TEXT, "options": {"create_subtitles": True, "subtitle_format": "ass"},
            }, args.jobs)
            subtitle = measure(server, {
                "audio_url": "s3://bench/source.wav", "text": TEXT,
                "options": {"subtitle_format": "ass"},
            }, args.jobs)
        finally:
            stop_api_server(server)
            s3.server.stop()

    report = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                   f"Python {platform.python_version()}",
        "clip_seconds": CLIP_SECONDS,
        "dubbing (seed example)": dubbing,
        "subtitle a recording": subtitle,
    }
    out_dir = ROOT / "benchmarks" / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "service_overhead.json").write_text(json.dumps(report, indent=2) + "\n")

    print(f"{report['date']}, {report['machine']}, {args.jobs} jobs per kind (medians)\n")
    print("| job (10 s clip) | client /runsync | worker processing_time | outside the engines |"
          " fetch | subtitles | publish |")
    print("|---|---|---|---|---|---|---|")
    for name in ("dubbing (seed example)", "subtitle a recording"):
        r = report[name]
        s = r["stages_ms"]
        print(f"| {name} | {r['client_wall_ms']} ms | {r['worker_processing_ms']} ms | "
              f"**{r['overhead_outside_engines_ms']} ms** | {s.get('fetch')} ms | "
              f"{s.get('subtitles')} ms | {s.get('publish')} ms |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
