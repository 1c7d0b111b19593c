"""An endpoint's model settings change after it was provisioned (a second language): the next
`f5-bootstrap run` fetches what is missing under the models lock before it starts the worker,
and the worker serves a job in that language. When the models cannot be fetched, the worker
still starts and answers every job with what to run, instead of exiting into a restart loop.

The volume's env stands in for the 8.7 GB build: a venv of this interpreter that sees the dev
venv's third-party packages. Its f5_runtime comes, as on an endpoint, from the release's code
dir (code/<code-id>) that `f5-bootstrap` makes from this checkout.
"""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import soundfile
import uv
from f5_bootstrap.config import Config
from f5_bootstrap.envid import current_release
from f5_bootstrap.layout import MARKER, Layout
from fixtures.tiny_align import ALIGN_REPO_NL, ModelHub, reference_clip, start_hub  # noqa: F401

from .conftest import ALIGN_REPO_EN, MODEL_ENV, tiny_hub_tree

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def stand_in_env(config: Config) -> str:
    """A complete env for this checkout's env-id; returns the env-id."""
    env_id = current_release(config).env_id
    env_dir = Layout(config.root).env_dir(env_id)
    subprocess.run(
        [uv.find_uv_bin(), "venv", "--quiet", "--python", sys.executable, str(env_dir)],
        env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
        check=True,
    )
    [site] = env_dir.glob("lib/python3*/site-packages")
    (site / "dev-venv.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    (env_dir / MARKER).write_text(json.dumps({"env_id": env_id}))
    return env_id


def subtitle_job(clip: Path, text: str, language: str) -> dict:
    """Align known text to a short recording (no bucket: the result comes back inline)."""
    samples, rate = soundfile.read(clip, dtype="int16")
    wav = io.BytesIO()
    soundfile.write(wav, samples[: rate * 2], rate, format="WAV")
    data = base64.b64encode(wav.getvalue()).decode()
    return {"input": {"audio_url": f"data:audio/wav;base64,{data}", "text": text,
                      "language": language}}


def test_a_new_language_is_fetched_by_the_next_run(tmp_path: Path, reference_clip) -> None:  # noqa: F811
    hub = start_hub(ModelHub(tiny_hub_tree(tmp_path / "hub", tmp_path)))
    volume = tmp_path / "volume"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("F5_", "UV_", "VIRTUAL"))}
    settings = {"F5_VOLUME": str(volume), "F5_BUNDLE": str(REPO), "F5_FLASH_ATTN": "0",
                "UV_PYTHON_DOWNLOADS": "never", "HF_ENDPOINT": hub.url,
                "F5_MODELS_MIRROR": hub.mirror, **MODEL_ENV}
    env_id = stand_in_env(Config.from_env(settings))
    root = volume / "f5tts"

    def bootstrap(*args: str, cwd: Path = tmp_path, **overrides: str):
        return subprocess.run([sys.executable, "-m", "f5_bootstrap", *args], cwd=cwd,
                              env={**base, **settings, **overrides}, capture_output=True,
                              text=True, timeout=600)

    try:
        provisioned = bootstrap("provision")
        assert provisioned.returncode == 0, provisioned.stdout + provisioned.stderr
        assert "env is complete" in provisioned.stdout  # the stand-in: nothing built
        assert "fetch-models done" in provisioned.stdout
        assert [p.name for p in (root / "envs").iterdir()] == [env_id]

        # The endpoint now also serves Dutch.
        dutch = {"F5_LANGUAGES": "en,nl",
                 "F5_ALIGN_MODELS": f"en={ALIGN_REPO_EN},nl={ALIGN_REPO_NL}"}
        job_dir = tmp_path / "job-nl"
        job_dir.mkdir()
        job = subtitle_job(reference_clip[0], "Sommigen noemen mij natuur", "nl")
        (job_dir / "test_input.json").write_text(json.dumps(job))
        served = bootstrap("run", cwd=job_dir, **dutch)
        out = served.stdout + served.stderr
        assert served.returncode == 0, out
        assert "fetch-models ..." in out and "fetch-models done" in out
        assert out.index("fetch-models done") < out.index("engines ready")
        assert "completed successfully" in out
        fetched = json.loads((root / "models" / "models.lock.json").read_text())["models"]
        assert fetched["align:nl"]["repo"] == ALIGN_REPO_NL
        assert len(list((root / "models").glob(".f5-ready-*.json"))) == 2
    finally:
        hub._server.shutdown()
        hub._server.server_close()

    # French, with no hub to fetch it from: the worker starts anyway and says what to run.
    french = {"F5_LANGUAGES": "en,fr", "F5_ALIGN_MODELS": f"en={ALIGN_REPO_EN},fr=test-org/fr",
              "UV_HTTP_RETRIES": "0", "HF_HUB_ETAG_TIMEOUT": "2"}
    job_dir = tmp_path / "job-fr"
    job_dir.mkdir()
    job = subtitle_job(reference_clip[0], "Bonjour tout le monde", "fr")
    (job_dir / "test_input.json").write_text(json.dumps(job))
    refused = bootstrap("run", cwd=job_dir, **french)
    out = refused.stdout + refused.stderr
    assert "fetch-models failed" in out
    assert "starting the worker anyway" in out
    assert refused.returncode == 1, out  # the SDK's local mode: the job failed, not the start
    assert "this worker cannot serve: the models of its configuration are not on the volume" in out
    assert "align:fr" in out and "f5-bootstrap provision" in out
