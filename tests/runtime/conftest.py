"""Fixtures for the f5-runtime service tests: a moto S3 server, a fault-injecting proxy in
front of it, and one RunPod local API server (test engine) per session."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from fixtures.api_server import api_server  # noqa: F401  (session fixture)
from fixtures.runpod_loop import runpod_loop  # noqa: F401  (fixture)
from fixtures.s3 import S3Server, bucket, s3, s3_server  # noqa: F401  (fixtures)

from runtime.s3_proxy import FaultyS3Proxy

TESTS_DIR = Path(__file__).resolve().parent.parent
ENGINE_DOUBLE = "runtime.engine_double:make_engines"
API_LIMITS = {"F5_MAX_AUDIO_MB": "1", "F5_MAX_AUDIO_SECONDS": "30", "F5_MAX_TEXT_CHARS": "2000"}


def wav_bytes(seconds: float = 2.0, rate: int = 16_000, fmt: str = "WAV") -> bytes:
    t = np.arange(int(seconds * rate), dtype=np.float32) / rate
    buf = io.BytesIO()
    sf.write(buf, 0.2 * np.sin(2 * np.pi * 330 * t), rate, format=fmt, subtype="PCM_16")
    return buf.getvalue()


@pytest.fixture(scope="session")
def s3_proxy(s3_server: S3Server):  # noqa: F811
    proxy = FaultyS3Proxy(s3_server.endpoint).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def faults(s3_proxy: FaultyS3Proxy) -> FaultyS3Proxy:
    s3_proxy.clear()
    yield s3_proxy
    s3_proxy.clear()


@pytest.fixture(scope="session")
def api_jobs_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("api-jobs")


@pytest.fixture(scope="session")
def api_server_env(s3_server: S3Server, s3_proxy: FaultyS3Proxy, api_jobs_dir: Path  # noqa: F811
                   ) -> dict[str, str]:
    """The endpoint as deployed (no private URLs, no plain http), small limits, test engine."""
    return {
        **s3_server.env(s3_proxy.endpoint),
        **API_LIMITS,
        "F5_ENGINES": ENGINE_DOUBLE,
        "PYTHONPATH": str(TESTS_DIR),
        "F5_STORAGE_ATTEMPTS": "2",
        "F5_TMP_DIR": str(api_jobs_dir),
    }


@pytest.fixture
def settings_env(s3: S3Server, tmp_path: Path) -> dict[str, str]:  # noqa: F811
    """Environment for in-process Settings: the moto server, quick retries, a temp dir."""
    return {**s3.env(), "F5_STORAGE_ATTEMPTS": "3", "F5_STORAGE_TIMEOUT": "5",
            "F5_TMP_DIR": str(tmp_path / "jobs")}
