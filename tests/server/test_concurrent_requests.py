"""Concurrent requests on one HTTP server share the device through the engine scheduler: their
chunks are sampled in the same batches, and each request still gets the audio it gets alone.

The server runs in this process around the tone engine (batches of any size); its first
sampler call is held until every request is queued, so that the scheduler has several jobs'
chunks to batch (observed through /health's scheduler counters, not a clock)."""

from __future__ import annotations

import base64
import threading
from concurrent.futures import ThreadPoolExecutor

import requests
from f5_runtime.config import Settings
from runtime.conftest import wav_bytes
from runtime.engine_double import ToneEngines

from server.conftest import GATE_TIMEOUT, start_local

VOICE = "data:audio/wav;base64," + base64.b64encode(wav_bytes(1.0)).decode()
REQUESTS = 3


class HoldFirstCall(ToneEngines):
    """Batches of any size; the first sampler call waits until `go` is set."""

    def __init__(self) -> None:
        super().__init__(batch_frames=10**9)
        self.go = threading.Event()

    def generate(self, works):
        if not self.generate_calls and not self.go.wait(GATE_TIMEOUT):
            raise RuntimeError("the test never let the first call go")
        return super().generate(works)


def speech(i: int) -> dict:
    return {"model": "tts-1", "voice": "alloy", "response_format": "pcm", "seed": 40 + i,
            "input": f"Request {i} begins here. It goes on a while. And then it ends."}


def native(i: int) -> dict:
    return {"input": {"text": f"Job {i} says one. Job {i} says two.", "voice_reference_url":
                      VOICE, "options": {"seed": i, "create_subtitles": False}}}


def test_concurrent_requests_share_batches_and_sound_as_alone(tmp_path) -> None:
    engines = HoldFirstCall()
    local, thread = start_local(Settings.from_env({"F5_TMP_DIR": str(tmp_path),
                                                   "F5_MAX_QUEUE": "8"}), engines)
    url = local.url
    try:
        def say(i: int) -> bytes:
            reply = requests.post(f"{url}/v1/audio/speech", json=speech(i), timeout=60)
            assert reply.status_code == 200, reply.text
            return reply.content

        def job(i: int) -> dict:
            reply = requests.post(f"{url}/runsync", json=native(i), timeout=60).json()
            assert reply["status"] == "COMPLETED", reply
            return {k: v for k, v in reply["output"].items()
                    if k not in ("processing_time", "timings")}

        with ThreadPoolExecutor(2 * REQUESTS) as pool:
            spoken = [pool.submit(say, i) for i in range(REQUESTS)]
            jobs = [pool.submit(job, i) for i in range(REQUESTS)]
            local.wait_for(lambda h: h["queue_depth"] == 2 * REQUESTS)
            engines.go.set()
            together = [f.result() for f in spoken], [f.result() for f in jobs]
        counters = local.health()["scheduler"]
        assert counters["cross_job_batches"] >= 1 and counters["largest_batch"] > 3, counters

        engines.generate_calls.clear()  # (the gate is open: it holds nothing now)
        alone = [say(i) for i in range(REQUESTS)], [job(i) for i in range(REQUESTS)]
        assert together == alone
    finally:
        engines.go.set()
        local.server.should_exit = True
        thread.join(timeout=30)
