"""`f5-runtime healthcheck`: the contract with f5-bootstrap (exit 0 when the env can serve)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from f5_runtime.models import health


def _env(settings, **extra: str) -> dict[str, str]:
    return {
        "F5_VOLUME": str(settings.root.parent),
        "HF_HOME": str(settings.hf_home),
        "TORCH_HOME": str(settings.torch_home),
        "NLTK_DATA": str(settings.nltk_data),
        "F5_TTS_MODEL": settings.tts_model,
        "F5_DEVICE": "cpu",
        **extra,
    }


def test_healthcheck_command_reports_engines_device_and_models(engines_settings):
    align = ",".join(f"{lang}={model}" for lang, model in engines_settings.align_models)
    env = {
        **os.environ,
        **_env(engines_settings, F5_ALIGN_MODELS=align, F5_ASR_MODEL=engines_settings.asr_model,
               F5_COMPILE="1", F5_WARMUP="0", F5_TTS_DTYPE="float16"),
        "HF_HUB_OFFLINE": "1",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "f5_runtime", "healthcheck", "--json", "--require-models"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert report["ok"] is True and report["models_ready"] is True
    assert report["device"] == "cpu" and report["dtype"] == "float32"
    assert report["attn_backend"] == "torch" and report["torch"].startswith("2.")
    choices = report["choices"]  # what the worker logs at start, the same function
    assert (choices["device"], choices["tts_dtype"], choices["vocoder_dtype"]) == (
        "cpu", "float32", "float32")
    assert choices["attention"] == "torch" and choices["attention_reason"] == "not a CUDA device"
    assert choices["compile"] is True and choices["compile_graphs"] == [
        "one chunk", "a batch of chunks"]
    assert choices["warmup"] is False and choices["asr_compute_type"] == "int8"
    assert set(report["engines"]) == {"f5_tts", "vocos", "whisperx_alignment", "faster_whisper"}
    assert all(v.startswith("ok") for v in report["engines"].values())
    assert set(report["models"]) == {"tts:tiny", "vocoder", "asr", "nltk:punkt_tab", "align:en"}


def _main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    health.add_arguments(parser)
    return health.main(parser.parse_args(argv))


def test_missing_models_are_reported_but_healthy_until_required(tmp_path, monkeypatch, capsys):
    """The bootstrap health-checks a new env before fetch-models has run."""
    monkeypatch.setenv("F5_VOLUME", str(tmp_path))
    for name in ("HF_HOME", "TORCH_HOME", "NLTK_DATA", "F5_LOAD_FORMAT", "F5_ALIGN_MODELS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("F5_DEVICE", "cpu")
    assert _main(["--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True and report["models_ready"] is False
    assert report["models"]["tts:F5TTS_v1_Base"].startswith("missing")
    assert "fetch-models" in report["models"]["vocoder"]
    assert _main(["--require-models"]) == 1
    monkeypatch.setenv("F5_LOAD_FORMAT", "dummy")  # random weights need no files
    assert _main(["--require-models"]) == 0


def test_a_bad_setting_or_device_is_unhealthy(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("F5_VOLUME", str(tmp_path))
    monkeypatch.setenv("F5_DEVICE", "cuda")  # no GPU here
    assert _main(["--json"]) == 1
    assert "F5_DEVICE=cuda" in json.loads(capsys.readouterr().out)["error"]
    monkeypatch.setenv("F5_DEVICE", "tpu")
    assert _main([]) == 1
