"""The real workspace lock: up to date, and what it installs imports (a re-lock that breaks
an import of the runtime stack fails here, not on a GPU worker)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import uv

RUNTIME_STACK = (
    "f5_tts.model",
    "f5_tts.infer.utils_infer",
    "whisperx.alignment",
    "vocos",
    "runpod",
    "boto3",
    "ass",
)


def test_locked_environment_imports_the_runtime_stack() -> None:
    # The dev venv is built from the lock (`uv sync --frozen`); one process for every import.
    code = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\n"
    result = subprocess.run(
        [sys.executable, "-c", code, *RUNTIME_STACK], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]


def test_lock_is_up_to_date(repo_root: Path) -> None:
    result = subprocess.run(
        [uv.find_uv_bin(), "lock", "--check"],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
    )
    assert result.returncode == 0, result.stderr
