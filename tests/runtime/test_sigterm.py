"""SIGTERM in the real serving modes: the RunPod SDK's production job loop (driven by a
loopback stand-in for RunPod's job API) and RunPod's local API server (`f5-runtime worker
--rp_serve_api`, uvicorn).

The job is held in its second upload (the S3 fault proxy lets the PUT of speech.ass land but
answers only after `hang_seconds`), so speech.wav is already in the bucket when SIGTERM comes.
A job that cannot finish within F5_STOP_GRACE_S is abandoned: its outputs are deleted, its temp
dir removed, an error saying to retry is posted, and the worker exits. One that can, finishes.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from fixtures.api_server import start_api_server, stop_api_server

from runtime.conftest import wav_bytes
from runtime.test_worker import worker_env

START_TIMEOUT = 120  # seconds: the first start imports runpod and the job code


def slow_upload_job(s3, bucket, faults, hang_seconds: float) -> dict:
    s3.put(bucket, "voice.wav", wav_bytes(1.0))
    faults.hang_put_suffixes.add("speech.ass")
    faults.hang_seconds = hang_seconds
    faults.hang_answers = True  # a slow upload that completes, unless the job is abandoned
    return {"text": "Hello there", "voice_reference_url": f"s3://{bucket}/voice.wav",
            "output": {"bucket": bucket, "prefix": "out/"}}


def wait_for_upload_in_flight(faults, process, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not any(m == "PUT" and p.endswith("speech.ass") for m, p in faults.requests):
        assert process.poll() is None, log_path.read_text()
        assert time.monotonic() < deadline, log_path.read_text()
        time.sleep(0.05)
    assert any(m == "PUT" and p.endswith("speech.wav") for m, p in faults.requests)


def wait_exit(process: subprocess.Popen, log_path: Path, timeout: float) -> int:
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        pytest.fail(f"still running {timeout:.0f} s after SIGTERM:\n{log_path.read_text()}")


def start_worker(env: dict[str, str], workdir: Path) -> tuple[subprocess.Popen, Path]:
    log_path = workdir / "worker.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen([sys.executable, "-m", "f5_runtime", "worker"], cwd=workdir,
                                   env=env, stdout=log_file, stderr=subprocess.STDOUT)
    return process, log_path


@pytest.mark.parametrize(("grace", "hang", "finishes"), [("1", 60.0, False), ("20", 2.0, True)])
def test_sigterm_in_the_runpod_job_loop(grace, hang, finishes, s3, bucket, faults, runpod_loop,
                                        tmp_path) -> None:
    job_input = slow_upload_job(s3, bucket, faults, hang)
    jobs_dir = tmp_path / "jobs"
    env = {**worker_env(jobs_dir), **s3.env(faults.endpoint), **runpod_loop.env(),
           "F5_STOP_GRACE_S": grace, "F5_STORAGE_TIMEOUT": "120"}
    process, log_path = start_worker(env, tmp_path)
    try:
        runpod_loop.add_job("job-term", job_input)
        wait_for_upload_in_flight(faults, process, log_path)
        process.send_signal(signal.SIGTERM)
        result = runpod_loop.wait_result("job-term", timeout=60)
        wait_exit(process, log_path, 60)
    finally:
        if process.poll() is None:
            process.kill()
    log = log_path.read_text()
    assert result is not None, log
    output = json.dumps(result)
    if finishes:
        assert "error" not in result and "out/job-term/speech.ass" in output, log
        assert sorted(s3.keys(bucket)) == ["out/job-term/speech.ass", "out/job-term/speech.wav",
                                           "voice.wav"]
    else:
        assert "stopped (SIGTERM) before this job finished" in output and "retry" in output, log
        assert s3.keys(bucket) == ["voice.wav"], "the uploaded speech.wav was deleted"
    assert list(jobs_dir.iterdir()) == [], "the job's temp dir is removed"
    assert runpod_loop.taken == ["job-term"], "no job is taken after SIGTERM"
    stages = [p["stage"] for job_id, p in runpod_loop.progress if job_id == "job-term"]
    # each update is posted from its own thread: they arrive, in any order
    assert sorted(stages) == sorted(["fetch", "reference", "generate", "vocode", "align"]), stages
    assert "SIGTERM during a job" in log


def test_sigterm_under_serve_abandons_and_cleans_up(s3, bucket, faults, tmp_path) -> None:
    import requests

    job_input = slow_upload_job(s3, bucket, faults, 60.0)
    jobs_dir = tmp_path / "jobs"
    env = {**worker_env(jobs_dir), **s3.env(faults.endpoint), "F5_STOP_GRACE_S": "1",
           "F5_STORAGE_TIMEOUT": "120"}
    server = start_api_server(env, tmp_path / "serve")
    replies: list[dict] = []
    try:
        client = threading.Thread(target=lambda: replies.append(requests.post(
            f"{server.url}/runsync", json={"input": job_input}, timeout=120).json()))
        client.start()
        wait_for_upload_in_flight(faults, server.process, server.log_path)
        server.process.send_signal(signal.SIGTERM)
        client.join(timeout=60)
        wait_exit(server.process, server.log_path, 60)
    finally:
        stop_api_server(server)
    assert replies, server.log()
    assert "stopped (SIGTERM) before this job finished" in json.dumps(replies[0]), replies
    assert s3.keys(bucket) == ["voice.wav"]
    assert list(jobs_dir.iterdir()) == []
