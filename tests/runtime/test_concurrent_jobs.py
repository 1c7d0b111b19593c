"""Concurrent jobs on the queue worker, through the RunPod SDK's real production loop (driven
by the loopback job-API stand-in): jobs run at once and their chunks share batches; each gives
the same result as the same job alone; an out-of-memory batch is split and every job
completes; a failing job fails only itself; a cancelled job's chunks are dropped.

The worker's engine is the tone engine, writing every sampler call's chunk texts to a file
(engine_double.RecordingToneEngines): each call takes 0.5 s, one saying `__hold__` 4 s more
(so jobs queue up behind it), and a batch of more than 2 chunks runs out of memory."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest
from f5_runtime.config import Settings
from f5_runtime.io.storage import Storage
from f5_runtime.serving.worker import Handler
from fixtures.runpod_loop import RunPodLoop

from runtime.conftest import wav_bytes
from runtime.engine_double import ToneEngines
from runtime.test_sigterm import start_worker
from runtime.test_worker import worker_env

VOICE = "data:audio/wav;base64," + base64.b64encode(wav_bytes(1.0)).decode()
TIMEOUT = 120  # seconds: the first start imports runpod and the job code


def job_input(text: str, seed: int, nfe: int = 8) -> dict:
    return {"text": text, "voice_reference_url": VOICE,
            "options": {"seed": seed, "nfe_steps": nfe, "create_subtitles": False}}


JOBS = {f"j{i}": job_input(f"Job {i} says one. Job {i} says two.", seed=i) for i in range(3)}
JOBS["jfail"] = job_input("This one will __fail__ now.", seed=9)


@pytest.fixture(scope="module")
def worker(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("concurrent")
    loop = RunPodLoop().start()
    calls = tmp / "calls.jsonl"
    env = {**worker_env(tmp / "jobs"), **loop.env(),
           "F5_ENGINES": "runtime.engine_double:make_recording_engines",
           "F5_CONCURRENCY": "5", "F5_TTS_BATCH_FRAMES": str(10**7),
           "F5_TEST_CALLS": str(calls), "F5_TEST_GENERATE_S": "0.5", "F5_TEST_OOM_ABOVE": "2"}
    (tmp / "jobs").mkdir()
    process, log_path = start_worker(env, tmp)
    yield loop, calls, tmp / "jobs", log_path
    process.terminate()
    process.wait(30)
    loop.stop()


def wait_for(condition, log_path: Path) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, log_path.read_text()
        time.sleep(0.02)


def sampler_calls(path: Path) -> list[list[str]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def comparable(result: dict) -> dict:
    return {k: v for k, v in result.items() if k not in ("processing_time", "timings")}


def test_concurrent_jobs_share_batches_and_give_the_results_of_jobs_alone(worker, tmp_path
                                                                          ) -> None:
    loop, calls, jobs_dir, log_path = worker
    loop.add_job("hold", job_input("Hold __hold__ on.", seed=5))
    wait_for(lambda: calls.exists() and sampler_calls(calls), log_path)  # the others queue up
    for job_id, job in JOBS.items():
        loop.add_job(job_id, job)
    results = {job_id: loop.wait_result(job_id, TIMEOUT) for job_id in JOBS}
    log = log_path.read_text()
    assert all(r is not None for r in results.values()), log

    settings = Settings.from_env({"F5_TMP_DIR": str(tmp_path)})
    alone = Handler(ToneEngines(), Storage(settings), settings)  # one job at a time, in-process
    for job_id in ("j0", "j1", "j2"):
        output = results[job_id]["output"]  # type: ignore[index]
        assert "error" not in output, output
        expected = alone({"id": job_id, "input": JOBS[job_id]})
        assert comparable(output) == comparable(expected)
    assert "asked to fail" in json.dumps(results["jfail"]), "the failing job fails"

    batches = sampler_calls(calls)[1:]
    jobs_in = [{text.split(" says")[0] for text in batch} for batch in batches]
    assert any(len(batch) > 2 for batch in batches), "batches of several jobs were tried"
    assert any(len(jobs) > 1 and len(batch) <= 2 for jobs, batch in zip(jobs_in, batches,
                                                                         strict=True)), \
        "after the out-of-memory splits, batches still held chunks of several jobs"
    assert list(jobs_dir.iterdir()) == []


def test_a_cancelled_jobs_chunks_are_dropped_and_the_worker_goes_on(worker) -> None:
    loop, calls, jobs_dir, log_path = worker
    calls.write_text("")
    loop.add_job("busy", job_input("Busy __hold__ one.", seed=1, nfe=8))
    wait_for(lambda: sampler_calls(calls), log_path)  # the device is busy with it for 4 s
    # other steps: not batched with "busy", so its chunks wait in the queue
    loop.add_job("cancel", job_input("Gone one. Gone two. Gone three. Gone four.", 2, nfe=16))
    wait_for(lambda: ("cancel", {"stage": "generate", "chunk": 1, "chunks": 4})
             in loop.progress, log_path)  # its chunks are queued
    loop.stop_job("cancel")
    loop.add_job("after", job_input("After one.", seed=3, nfe=16))
    after = loop.wait_result("after", TIMEOUT)
    assert after is not None and "error" not in after["output"], log_path.read_text()
    texts = [t for batch in sampler_calls(calls) for t in batch]
    assert not any(t.startswith("Gone") for t in texts), texts
    assert "job cancel cancelled" in log_path.read_text()
    assert list(jobs_dir.iterdir()) == []
