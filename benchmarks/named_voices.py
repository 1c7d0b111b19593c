"""Per-request time saved by a named voice, through RunPod's local API server.

One worker with the real engines on random weights (F5_LOAD_FORMAT=dummy F5_TTS_MODEL=tiny,
CPU), a moto S3 server on loopback, a temp volume. The same short synthesis job, median of
N jobs (after warm-up) for each way of giving the voice:
- `voice`: a registered voice (prepared once at registration);
- S3 URL + transcript, the same recording every time (fetch + decode, then the volume's
  prepared-reference cache hits);
- S3 URL + transcript, a new recording each job (fetch, decode, trim, clip: a cache miss);
- S3 URL without transcript, a new recording each job (all that + Whisper, tiny here).
The recording is f5-tts's own basic_ref_en.wav (5.3 s); "a new recording" adds a different
inaudible offset to it, so its content hash differs. The figure that matters is the time of
the `fetch` and `reference` stages (what a named voice removes); the whole job's time is
shown too, but it is mostly sampling, and the length of the speech depends on the
reference's transcript (the recognised one differs).

    uv run --frozen python benchmarks/named_voices.py [--jobs 20]

Prints a markdown table; writes benchmarks/out/named_voices.json.
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from fixtures.api_server import start_api_server, stop_api_server  # noqa: E402
from fixtures.s3 import start_moto  # noqa: E402
from fixtures.tiny_align import REFERENCE_TEXT, f5_examples  # noqa: E402

logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's per-request lines

BUCKET = "bench"
TEXT = "A short sentence, spoken in a voice the worker already knows."
OPTIONS = {"nfe_steps": 4, "seed": 1, "create_subtitles": False}


def variant(samples: np.ndarray, rate: int, i: int) -> bytes:
    """The recording with an inaudible offset: same sound, another content hash."""
    buf = io.BytesIO()
    sf.write(buf, samples + np.float32(i * 1e-4), rate, format="WAV", subtype="FLOAT")
    return buf.getvalue()


def timed(server, job_input: dict) -> tuple[float, dict]:
    t0 = time.perf_counter()
    response = server.runsync(job_input, timeout=600)
    wall = time.perf_counter() - t0
    if response.get("status") != "COMPLETED":
        raise SystemExit(f"job failed: {response}")
    return wall, response["output"]


def measure(server, cases: dict, jobs: int, warmup: int = 2) -> dict:
    """The cases interleaved (job i of every case, then job i + 1), so that load from other
    processes on the machine falls on all of them alike."""
    runs: dict[str, dict[str, list[float]]] = {
        name: {"client_s": [], "worker_s": [], "fetch_reference_s": [], "audio_s": []}
        for name in cases}
    for i in range(warmup + jobs):
        for name, make_input in cases.items():
            wall, out = timed(server, make_input(i))
            if i < warmup:
                continue
            r = runs[name]
            r["client_s"].append(wall)
            r["worker_s"].append(out["processing_time"])
            r["fetch_reference_s"].append(out["timings"].get("fetch", 0.0)
                                          + out["timings"]["reference"])
            r["audio_s"].append(out["duration"])
    return {name: {k: statistics.median(v) for k, v in r.items()} | {"jobs": jobs}
            for name, r in runs.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20)
    args = parser.parse_args()

    moto = start_moto()
    moto.client.create_bucket(Bucket=BUCKET)
    recording = (f5_examples() / "basic" / "basic_ref_en.wav").read_bytes()
    samples, rate = sf.read(io.BytesIO(recording), dtype="float32")
    moto.put(BUCKET, "ref/same.wav", recording)
    for i in range(2 * (args.jobs + 2)):
        moto.put(BUCKET, f"ref/new-{i}.wav", variant(samples, rate, i + 1))
    with tempfile.TemporaryDirectory() as tmp:
        env = {**moto.env(), "F5_VOLUME": str(Path(tmp) / "volume"), "F5_LOAD_FORMAT": "dummy",
               "F5_TTS_MODEL": "tiny", "F5_DEVICE": "cpu", "HF_HUB_OFFLINE": "1"}
        server = start_api_server(env, Path(tmp) / "server")
        try:
            timed(server, {"voice_action": "register", "voice": "bench",
                           "voice_reference_url": f"s3://{BUCKET}/ref/same.wav",
                           "voice_reference_text": REFERENCE_TEXT, "language": "en"})
            base = {"text": TEXT, "options": OPTIONS}
            cases = {
                "named voice (`voice`)": lambda i: {**base, "voice": "bench"},
                "S3 URL + transcript, same recording (volume cache hit)": lambda i: {
                    **base, "voice_reference_url": f"s3://{BUCKET}/ref/same.wav",
                    "voice_reference_text": REFERENCE_TEXT},
                "S3 URL + transcript, new recording": lambda i: {
                    **base, "voice_reference_url": f"s3://{BUCKET}/ref/new-{i}.wav",
                    "voice_reference_text": REFERENCE_TEXT},
                "S3 URL, no transcript (Whisper), new recording": lambda i: {
                    **base,
                    "voice_reference_url": f"s3://{BUCKET}/ref/new-{args.jobs + 2 + i}.wav"},
            }
            results = measure(server, cases, args.jobs)
        finally:
            stop_api_server(server)
    moto.server.stop()

    named = results["named voice (`voice`)"]["fetch_reference_s"]
    print(f"{args.jobs} jobs each (interleaved), medians; {platform.machine()}, "
          f"{os.cpu_count()} cores; {datetime.date.today()}\n")
    print("| voice given as | fetch + reference | saved by a named voice | worker total "
          "| client total | speech |")
    print("|---|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['fetch_reference_s'] * 1000:.1f} ms | "
              f"{(r['fetch_reference_s'] - named) * 1000:.1f} ms | {r['worker_s']:.2f} s | "
              f"{r['client_s']:.2f} s | {r['audio_s']:.2f} s |")
    out = ROOT / "benchmarks" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "named_voices.json").write_text(json.dumps(
        {"date": str(datetime.date.today()), "jobs": args.jobs, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
