"""The HTTP server as its clients see it: time to first audio, total time, throughput.

Starts `f5-runtime serve` on loopback with the chosen engines and measures, in one run:
1. a short line, a sentence and a paragraph, each streamed (`/v1/audio/speech`, raw PCM:
   time to the first audio bytes and to the last) and not streamed (`/runsync`, the batch
   job with inline output: the first audio is the whole file) -> ratios streamed/batch;
2. 1, 2, 4 and 8 concurrent clients each sending `--per-client` requests of one text
   (`--concurrent-text`): requests per minute, p50 and p95 latency (the engine scheduler
   batches the clients' chunks).

    uv run --frozen python benchmarks/http_serving.py --engines tiny     # service overhead
    uv run --frozen python benchmarks/http_serving.py --engines real --nfe 4 --per-client 1 \
        --concurrent-text line                                           # real-size, CPU
    uv run --frozen python benchmarks/http_serving.py --engines models   # the fetched models (GPU)

`tiny`: F5_LOAD_FORMAT=dummy F5_TTS_MODEL=tiny; `real`: the real architectures with random
weights (real compute); `models`: whatever the volume holds. `--nfe` sets the flow steps.
Verification is off by default (`--verify`): random weights fail it, and the regenerations
would be counted as serving time. Prints markdown; writes
benchmarks/out/http_serving-<engines>.json.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from importlib.resources import files
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
TEXTS = {
    "line": "Hello there.",
    "sentence": "The quick brown fox jumps over the lazy dog while the farmer watches.",
    "paragraph": (
        "I don't really care what you call me. I've been a silent spectator, watching species "
        "evolve, empires rise and fall. But always remember, I am mighty and enduring. Treat "
        "me well and I will nurture you; ignore me and you will face the consequences. The "
        "rivers carry my memory from the mountains to the sea."),
}
ENGINES = {
    "tiny": {"F5_LOAD_FORMAT": "dummy", "F5_TTS_MODEL": "tiny"},
    "real": {"F5_LOAD_FORMAT": "dummy"},
    "models": {},
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(engines: str, workdir: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, **ENGINES[engines], "F5_TMP_DIR": str(workdir), "F5_MAX_QUEUE": "64",
           "F5_REQUEST_TIMEOUT_S": "3600"}
    log = (workdir / "server.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "f5_runtime", "serve", "--port", str(port)],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/ping", timeout=2).status_code == 200:
                return proc, url
        except requests.RequestException:
            pass
        if proc.poll() is not None:
            raise SystemExit((workdir / "server.log").read_text())
        time.sleep(0.5)
    raise SystemExit("the server did not become ready")


def streamed(url: str, text: str, nfe: int, verify: str) -> tuple[float, float]:
    """(seconds to the first audio bytes, seconds to the last) of one streamed request."""
    t0 = time.perf_counter()
    first = None
    body = {"model": "f5-tts", "voice": "alloy", "input": text, "response_format": "pcm",
            "nfe_steps": nfe, "seed": 1, "verify": verify}
    with requests.post(f"{url}/v1/audio/speech", json=body, stream=True, timeout=3600) as r:
        r.raise_for_status()
        for piece in r.iter_content(chunk_size=None):
            if piece and first is None:
                first = time.perf_counter() - t0
    return first or 0.0, time.perf_counter() - t0


def batch(url: str, text: str, nfe: int, voice: str, verify: str) -> float:
    t0 = time.perf_counter()
    job = {"input": {"text": text, "voice_reference_url": voice,
                     "voice_reference_text": "Some call me nature, others call me mother nature.",
                     "options": {"nfe_steps": nfe, "seed": 1, "create_subtitles": False,
                                 "verify": verify}}}
    reply = requests.post(f"{url}/runsync", json=job, timeout=3600).json()
    assert reply["status"] == "COMPLETED", reply
    return time.perf_counter() - t0


def concurrent(url: str, clients: int, per_client: int, nfe: int, text: str, verify: str
               ) -> dict:
    latencies: list[float] = []
    lock = threading.Lock()

    def client() -> None:
        for _ in range(per_client):
            _, total = streamed(url, text, nfe, verify)
            with lock:
                latencies.append(total)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    q = statistics.quantiles(latencies, n=20) if len(latencies) > 1 else latencies * 19
    return {"clients": clients, "requests": len(latencies),
            "per_minute": round(len(latencies) / wall * 60, 1),
            "p50": round(statistics.median(latencies), 3), "p95": round(q[18], 3)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", choices=list(ENGINES), default="tiny")
    parser.add_argument("--nfe", type=int, default=16)
    parser.add_argument("--per-client", type=int, default=4, help="requests per client")
    parser.add_argument("--clients", default="1,2,4,8")
    parser.add_argument("--concurrent-text", choices=list(TEXTS), default="sentence",
                        help="what the concurrent clients send")
    parser.add_argument("--verify", choices=["off", "align", "asr"], default="off",
                        help="per-chunk verification of every request")
    args = parser.parse_args()
    started = datetime.datetime.now(datetime.UTC)
    load_before = os.getloadavg()[0]
    ref = files("f5_tts").joinpath("infer/examples/basic/basic_ref_en.wav").read_bytes()
    voice = "data:audio/wav;base64," + base64.b64encode(ref).decode()
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start(args.engines, Path(tmp))
        try:
            streamed(url, TEXTS["line"], args.nfe, args.verify)  # warm: the voice is prepared
            latency = {}
            for name, text in TEXTS.items():
                first, total = streamed(url, text, args.nfe, args.verify)
                whole = batch(url, text, args.nfe, voice, args.verify)
                latency[name] = {"stream_first": round(first, 3), "stream_total": round(total, 3),
                                 "batch_total": round(whole, 3),
                                 "first_vs_batch": round(first / whole, 3)}
            load = [concurrent(url, int(n), args.per_client, args.nfe,
                               TEXTS[args.concurrent_text], args.verify)
                    for n in args.clients.split(",")]
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    minutes = (datetime.datetime.now(datetime.UTC) - started).total_seconds() / 60
    result = {"date": started.strftime("%Y-%m-%d %H:%M"), "machine": platform.processor()
              or platform.machine(), "cpus": os.cpu_count(), "engines": args.engines,
              "nfe": args.nfe, "verify": args.verify, "concurrent_text": args.concurrent_text,
              "command": " ".join(sys.argv[1:]), "minutes": round(minutes, 1),
              "load_average": [round(load_before, 1), round(os.getloadavg()[0], 1)],
              "latency": latency, "concurrency": load}
    out = ROOT / "benchmarks/out" / f"http_serving-{args.engines}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"{result['date']} UTC, {result['cpus']} CPUs, load average "
          f"{result['load_average'][0]} -> {result['load_average'][1]}, {minutes:.1f} min: "
          f"`{result['command']}`\n")
    print("| text | first audio, streamed (s) | total, streamed (s) | /runsync (s) | "
          "first audio streamed / batch |\n|---|---|---|---|---|")
    for name, r in latency.items():
        print(f"| {name} | {r['stream_first']} | {r['stream_total']} | {r['batch_total']} | "
              f"{r['first_vs_batch']} |")
    print("\n| clients | requests/min | p50 (s) | p95 (s) |\n|---|---|---|---|")
    for r in load:
        print(f"| {r['clients']} | {r['per_minute']} | {r['p50']} | {r['p95']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
