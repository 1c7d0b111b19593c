"""The runtime side of the contract with f5-bootstrap (see the package README)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from f5_runtime.config import Settings
from fixtures.volume import bootstrap_env

from runtime.test_worker import REPO_ROOT, worker_env


def test_settings_follow_the_bootstrap_variables(tmp_path: Path) -> None:
    settings = Settings.from_env(bootstrap_env(tmp_path / "vol"))
    root = tmp_path / "vol" / "f5tts"
    assert settings.root == root
    assert settings.models_dir == root / "models" and settings.refs_dir == root / "refs"
    assert settings.hf_home == root / "models" / "hf"
    assert settings.torch_home == root / "models" / "torch"
    assert settings.nltk_data == root / "models" / "nltk"
    assert settings.locks_dir == root / "locks"


@pytest.mark.parametrize("command", ["healthcheck", "fetch-models", "worker", "serve"])
def test_contract_commands_exist(command: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "f5_runtime", command, "--help"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert f"f5-runtime {command}" in proc.stdout


def test_worker_execd_as_the_bootstrap_does_runs_test_input_json(tmp_path: Path) -> None:
    """`python -m f5_runtime worker` with the bootstrap's environment, from the repo root:
    the SDK's local mode (no flags, no RunPod) runs ./test_input.json once and exits 0."""
    job = json.loads((REPO_ROOT / "test_input.json").read_text())
    assert job["input"]["voice_reference_url"].startswith("data:audio/")
    env = {**worker_env(tmp_path), **bootstrap_env(tmp_path / "vol")}
    proc = subprocess.run([sys.executable, "-m", "f5_runtime", "worker"], cwd=REPO_ROOT,
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=180)
    out = proc.stdout
    assert proc.returncode == 0, out
    assert "engines ready" in out and "completed successfully" in out
    assert out.index("engines ready") < out.index("Starting Serverless Worker"), "warm start"
    payload = job["input"]["voice_reference_url"].split(",", 1)[1]
    assert payload[1000:1100] not in out, "the SDK's DEBUG lines (whole inputs) are off"


def test_the_manifest_module_the_bootstrap_hashes_is_the_runtimes_manifest() -> None:
    """f5-bootstrap keys its models marker on this file: moved without it, a release that
    changes a pinned revision would not fetch again."""
    from f5_bootstrap.models import MANIFEST_MODULE
    from f5_runtime.models import manifest

    source = REPO_ROOT / "packages" / "f5-runtime" / "src" / MANIFEST_MODULE
    assert source.resolve() == Path(manifest.__file__).resolve()
    assert "PINNED_REVISIONS" in source.read_text()
