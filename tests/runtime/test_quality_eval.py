"""benchmarks/quality_eval.py runs on random weights (CI smoke) and says its figures are
meaningless there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_quality_eval_smoke_on_random_weights(tmp_path) -> None:
    out = tmp_path / "quality.json"
    env = {**os.environ, "F5_LOAD_FORMAT": "dummy", "F5_TTS_MODEL": "tiny", "F5_DEVICE": "cpu",
           "F5_VOLUME": str(tmp_path / "volume"), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "quality_eval.py"), "--smoke",
                           "--max-attempts", "2", "--out", str(out)],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "MEANINGLESS" in done.stdout
    report = json.loads(out.read_text())
    assert report["meaningless"] is True and set(report["modes"]) == {"off", "align", "asr"}
    assert report["modes"]["off"]["regenerated"] == 0.0
    assert "transcribe" in report["modes"]["asr"]["per_audio_second"]
    assert "transcribe" not in report["modes"]["align"]["per_audio_second"]
