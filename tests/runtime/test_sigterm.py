"""SIGTERM in the real serving modes: the RunPod SDK's production job loop (driven by a
loopback stand-in for RunPod's job API), RunPod's local API server (`f5-runtime worker
--rp_serve_api`, uvicorn) and our HTTP server (`f5-runtime serve`, and F5_MODE=http).

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
from fixtures.api_server import free_port, start_api_server, stop_api_server

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


def ping(url: str) -> int | None:
    """/ping's status, None when nothing answers (the server closed its port)."""
    import requests

    try:
        return requests.get(f"{url}/ping", timeout=5).status_code
    except requests.ConnectionError:
        return None


def post_in_background(url: str, job_input: dict) -> tuple[threading.Thread, list[dict]]:
    import requests

    replies: list[dict] = []
    client = threading.Thread(target=lambda: replies.append(requests.post(
        f"{url}/runsync", json={"input": job_input}, timeout=120).json()))
    client.start()
    return client, replies


def test_sigterm_under_the_http_server_lets_a_request_finish(s3, bucket, faults,
                                                             tmp_path) -> None:
    """`f5-runtime serve`: within F5_STOP_GRACE_S the running request completes; the port
    takes nothing new; the process exits 0."""
    job_input = slow_upload_job(s3, bucket, faults, 3.0)
    jobs_dir = tmp_path / "jobs"
    env = {**worker_env(jobs_dir), **s3.env(faults.endpoint), "F5_STOP_GRACE_S": "60",
           "F5_STORAGE_TIMEOUT": "120"}
    server = start_api_server(env, tmp_path / "serve", "http")
    try:
        client, replies = post_in_background(server.url, job_input)
        wait_for_upload_in_flight(faults, server.process, server.log_path)
        server.process.send_signal(signal.SIGTERM)
        client.join(timeout=60)
        assert ping(server.url) != 200, "a stopping server is not ready"
        assert wait_exit(server.process, server.log_path, 60) == 0, server.log()
    finally:
        stop_api_server(server)
    assert replies and replies[0]["status"] == "COMPLETED", (replies, server.log())
    assert "out/" in json.dumps(replies[0]["output"])
    assert sorted(s3.keys(bucket)) == ["out/" + k for k in sorted(
        (replies[0]["id"] + "/speech.ass", replies[0]["id"] + "/speech.wav"))] + ["voice.wav"]
    assert list(jobs_dir.iterdir()) == []


@pytest.mark.parametrize("held", [".write-check", "speech.ass"])
def test_sigterm_under_the_http_server_stops_a_request_after_the_grace(held, s3, bucket, faults,
                                                                       tmp_path) -> None:
    """The load-balancer mode (F5_MODE=http, /ping also on PORT_HEALTH): /ping says 503 as
    soon as SIGTERM comes, while the request still runs; past F5_STOP_GRACE_S the request is
    stopped and answers an error that says to retry, its thread still held in an upload (the
    bucket check before the work, or the second output); the process exits 0 with nothing
    left behind."""
    job_input = slow_upload_job(s3, bucket, faults, 60.0)
    faults.hang_put_suffixes = {held}
    jobs_dir = tmp_path / "jobs"
    port, health_port = free_port(), free_port()
    env = {**worker_env(jobs_dir), **s3.env(faults.endpoint), "F5_STOP_GRACE_S": "1",
           "F5_STORAGE_TIMEOUT": "120", "F5_MODE": "http", "PORT": str(port),
           "PORT_HEALTH": str(health_port)}
    process, log_path = start_worker(env, tmp_path)
    url, health = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{health_port}"
    try:
        wait_ready(health, process, log_path)
        client, replies = post_in_background(url, job_input)
        while not any(m == "PUT" and p.endswith(held) for m, p in faults.requests):
            assert process.poll() is None, log_path.read_text()
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        while ping(health) == 200:
            time.sleep(0.05)
        assert ping(health) == 503 and not replies, "unhealthy while the request still runs"
        client.join(timeout=60)
        assert wait_exit(process, log_path, 60) == 0, log_path.read_text()
    finally:
        if process.poll() is None:
            process.kill()
    log = log_path.read_text()
    assert replies and replies[0]["status"] == "FAILED", (replies, log)
    assert "stop" in replies[0]["error"] and "retry" in replies[0]["error"], replies
    assert s3.keys(bucket) == ["voice.wav"], "nothing half-written"
    assert not jobs_dir.exists() or list(jobs_dir.iterdir()) == []


def wait_ready(url: str, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while ping(url) != 200:
        assert process.poll() is None, log_path.read_text()
        assert time.monotonic() < deadline, log_path.read_text()
        time.sleep(0.2)
