"""The whole path a deployment takes, with tiny models in the real formats.

`fetched_volume` (session): a local model hub (tests/fixtures/tiny_align.py) serving the real
manifest's repos, where the TTS, vocoder, aligner and Whisper files are tiny checkpoints in
their real formats; `f5-runtime fetch-models` downloads them onto a "pod" volume through
huggingface_hub's real code; then the hub is shut down and the volume is moved, as a volume
filled on a provisioning pod (/workspace) is mounted on a worker (/runpod-volume).
`endpoint` (session): RunPod's local API server running the real worker on that volume,
offline, with the moto S3 server as its bucket.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures.api_server import start_api_server, stop_api_server
from fixtures.s3 import bucket, s3, s3_server  # noqa: F401  (fixtures)
from fixtures.tiny_align import (
    ModelHub,
    build_hub_tree,
    start_hub,
    write_tiny_wav2vec2,
    write_tiny_whisper,
)
from fixtures.tiny_tts import tts_settings, write_tts_tree
from fixtures.volume import bootstrap_env

ALIGN_REPO_EN = "test-org/tiny-wav2vec2-en"  # F5_ALIGN_MODELS: the English aligner on the hub

# The models this deployment is configured with (the paths come from bootstrap_env).
MODEL_ENV = {
    "F5_TTS_MODEL": "tiny",
    "F5_LANGUAGES": "en",
    "F5_ALIGN_MODELS": f"en={ALIGN_REPO_EN}",
    "F5_DEVICE": "cpu",
}


def tiny_hub_tree(root: Path, work: Path) -> Path:
    """The real manifest's repos with loadable tiny files: TTS + vocoder, aligner, Whisper."""
    wav2vec2 = write_tiny_wav2vec2(work / "wav2vec2")
    build_hub_tree(root, wav2vec2, write_tiny_whisper(work / "whisper"))
    tts = write_tts_tree(tts_settings(work / "tts-volume"), "tiny")
    repos = root / "repos"
    shutil.copy(tts["checkpoint"], repos / "SWivid/F5-TTS" / tts["checkpoint"].relative_to(
        tts["checkpoint"].parents[1]))
    shutil.copy(tts["vocab"], repos / "SWivid/F5-TTS" / tts["vocab"].relative_to(
        tts["vocab"].parents[1]))
    for name in ("config.yaml", "pytorch_model.bin"):
        shutil.copy(tts["vocoder"] / name, repos / "charactr/vocos-mel-24khz" / name)
    shutil.copytree(wav2vec2, repos / ALIGN_REPO_EN)
    return root


@pytest.fixture(scope="session")
def fetched_volume(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("e2e")
    hub = start_hub(ModelHub(tiny_hub_tree(work / "hub", work)))
    pod_volume = work / "workspace"
    env = {**os.environ, **bootstrap_env(pod_volume, offline=False), **MODEL_ENV,
           "HF_ENDPOINT": hub.url, "F5_MODELS_MIRROR": hub.mirror}
    try:
        proc = subprocess.run([sys.executable, "-m", "f5_runtime", "fetch-models"], env=env,
                              capture_output=True, text=True, timeout=300)
    finally:
        hub._server.shutdown()  # from here on, nothing can reach a hub
    assert proc.returncode == 0, proc.stdout + proc.stderr
    worker_volume = work / "runpod-volume"
    pod_volume.rename(worker_volume)
    return worker_volume


@pytest.fixture(scope="session")
def endpoint(fetched_volume, s3_server, tmp_path_factory):  # noqa: F811
    env = {**bootstrap_env(fetched_volume), **MODEL_ENV, **s3_server.env()}
    server = start_api_server(env, tmp_path_factory.mktemp("e2e-endpoint"))
    yield server
    stop_api_server(server)
