"""f5-runtime as a package: one version source, and the worker's RunPod SDK as an extra."""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import tomllib
from pathlib import Path

import f5_runtime
import pytest
from f5_runtime.serving import worker

RUNTIME_PYPROJECT = Path(__file__).resolve().parents[2] / "packages/f5-runtime/pyproject.toml"


def test_version_comes_from_the_package_metadata() -> None:
    declared = tomllib.loads(RUNTIME_PYPROJECT.read_text())["project"]["version"]
    assert f5_runtime.version() == f5_runtime.__version__ == declared
    proc = subprocess.run([sys.executable, "-m", "f5_runtime", "--version"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == f"f5-runtime {declared}"


@pytest.mark.parametrize("command", ["worker"])  # `serve` (the HTTP server) needs no SDK
def test_worker_without_the_runpod_sdk_says_to_install_the_extra(
        command: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setitem(sys.modules, "runpod", None)  # as if `runpod` were not installed
    # An engine factory that cannot load: the SDK check must come before any model loading.
    monkeypatch.setenv("F5_ENGINES", "no_such_module:make_engines")
    module = {"worker": worker}[command]
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    with caplog.at_level(logging.ERROR, logger="f5_runtime.serving.worker"):
        assert module.main(parser.parse_args([])) == 2
    assert "pip install 'f5-runtime[runpod]'" in caplog.text
    assert "F5_ENGINES" not in caplog.text
