"""The RunPod handler and the worker command: error mapping, progress, warm start, SDK flags."""

from __future__ import annotations

import argparse
import base64
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from f5_runtime import worker
from f5_runtime.config import Settings
from f5_runtime.engines import SYNTHESIS_STAGES
from f5_runtime.errors import ConfigError, StorageError, ValidationError, WorkerBrokenError
from f5_runtime.storage import Storage

from runtime.conftest import ENGINE_DOUBLE, TESTS_DIR, wav_bytes
from runtime.engine_double import ToneEngines

REPO_ROOT = TESTS_DIR.parent


def handler(env, engines=None, report=None) -> worker.Handler:
    settings = Settings.from_env(env)
    return worker.Handler(engines or ToneEngines(), Storage(settings), settings, report)


def voice_job(text="Hello there", job_id="j-1"):
    voice = "data:audio/wav;base64," + base64.b64encode(wav_bytes(1.0)).decode()
    return {"id": job_id, "input": {"text": text, "voice_reference_url": voice}}


def test_progress_is_reported_at_stage_boundaries_not_at_the_end(settings_env) -> None:
    reports = []
    result = handler(settings_env, report=lambda job, p: reports.append((job["id"], p)))(
        voice_job())
    assert "error" not in result
    stages = [p["stage"] for _, p in reports]
    assert stages == ["fetch", "synthesize", *SYNTHESIS_STAGES], (
        "the engines' stages, none in the last moments before the result")
    assert {job_id for job_id, _ in reports} == {"j-1"}


def test_bad_request_is_a_plain_error_and_the_worker_carries_on(settings_env) -> None:
    h = handler(settings_env)
    bad = h({"id": "j-2", "input": {"text": "hi", "voice_refrence_url": "s3://b/k"}})
    assert bad == {"error": "input.voice_refrence_url: is not a known field (did you mean "
                            "'voice_reference_url'?)"}
    assert h({"id": "j-3", "input": "not an object"})["error"].startswith("input: must be a JSON")
    assert "audio_base64" in h(voice_job())


def test_unexpected_errors_name_the_stage_and_job_and_log_the_traceback(settings_env,
                                                                       caplog) -> None:
    result = handler(settings_env)(voice_job("__fail__ please", job_id="j-4"))
    assert set(result) == {"error"}
    message = result["error"]
    assert "during synthesize" in message and "(job j-4)" in message
    assert "the test engine was asked to fail" in message and "Traceback" not in message
    assert any(r.exc_info for r in caplog.records if r.name == "f5_runtime.worker")


def test_cuda_failures_ask_runpod_to_replace_the_worker(settings_env) -> None:
    result = handler(settings_env)(voice_job("__cuda__ boom", job_id="j-5"))
    assert result["refresh_worker"] is True and "retry the job (job j-5)" in result["error"]


@pytest.mark.parametrize(
    ("exc", "broken"),
    [
        (WorkerBrokenError("models unusable"), True),
        (RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"), True),
        (type("OutOfMemoryError", (RuntimeError,), {})("oom"), True),
        (RuntimeError("CUBLAS_STATUS_EXECUTION_FAILED when calling cublasSgemm"), True),
        (ValueError("shape mismatch"), False),
        (ValidationError("input.text: is required"), False),
    ],
)
def test_is_broken(exc, broken) -> None:
    assert worker.is_broken(exc) is broken
    wrapped = RuntimeError("synthesis failed")
    wrapped.__cause__ = exc
    assert worker.is_broken(wrapped) is broken


def test_error_results() -> None:
    assert worker.error_result(ValidationError("input.text: x"), "j", "validate") == {
        "error": "input.text: x"}
    storage = worker.error_result(StorageError("could not write s3://b/k"), "j9", "publish")
    assert storage == {"error": "could not write s3://b/k (job j9)"}
    assert "refresh_worker" in worker.error_result(WorkerBrokenError("gpu gone"), "j", "align")


def test_runpod_flags_pass_through() -> None:
    parser = argparse.ArgumentParser()
    worker.add_arguments(parser)
    args = parser.parse_args(["--rp_serve_api", "--rp_api_port", "8123", "--test_input", "{}"])
    assert worker.runpod_argv(args) == ["--rp_serve_api", "--rp_api_port", "8123",
                                        "--test_input", "{}"]
    assert worker.runpod_argv(parser.parse_args([])) == []


def test_engines_factory_errors_name_the_variable(settings_env) -> None:
    for value in ("no_colon", "runtime.engine_double:missing", "no.such.module:x"):
        with pytest.raises(ConfigError, match="F5_ENGINES"):
            worker.load_engines(Settings.from_env({**settings_env, "F5_ENGINES": value}))
    engines = worker.load_engines(Settings.from_env({**settings_env, "F5_ENGINES": ENGINE_DOUBLE}))
    assert isinstance(engines, ToneEngines)


def test_importing_the_worker_does_nothing() -> None:
    code = ("import sys, f5_runtime.worker, f5_runtime.serve\n"
            "print([m for m in ('runpod', 'torch', 'boto3') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]" and out.stderr == ""


def worker_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNPOD_", "BUCKET_"))}
    env.update(F5_ENGINES=ENGINE_DOUBLE, PYTHONPATH=str(TESTS_DIR), F5_TMP_DIR=str(tmp_path),
               PYTHONUNBUFFERED="1")
    return env


def test_worker_test_input_flag_fails_with_the_error(tmp_path) -> None:
    bad = json.dumps({"input": {"text": "hi", "voice_reference_url": "ftp://x/y.wav"}})
    proc = subprocess.run([sys.executable, "-m", "f5_runtime", "worker", "--test_input", bad],
                          cwd=tmp_path, env=worker_env(tmp_path), capture_output=True, text=True,
                          timeout=180)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "input.voice_reference_url: must be an s3://bucket/key" in out


def test_sigterm_mid_job_still_cleans_up(s3, bucket, tmp_path) -> None:
    """RunPod stops workers with SIGTERM: the running job's temp dir and uploads go too."""
    s3.put(bucket, "voice.wav", wav_bytes(1.0))
    job = {"input": {"text": "__slow__ job", "voice_reference_url": f"s3://{bucket}/voice.wav"}}
    jobs_dir = tmp_path / "jobs"
    env = {**worker_env(jobs_dir), **s3.env()}
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen([sys.executable, "-m", "f5_runtime", "worker", "--test_input",
                                 json.dumps(job)], cwd=tmp_path, env=env, stdout=log_file,
                                stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while "fetched voice reference" not in log_path.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
        assert len(list(jobs_dir.iterdir())) == 1, "the job's temp dir exists while it runs"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    finally:
        if proc.poll() is None:
            proc.kill()
    assert list(jobs_dir.iterdir()) == [], log_path.read_text()
    assert "SIGTERM" in log_path.read_text()
