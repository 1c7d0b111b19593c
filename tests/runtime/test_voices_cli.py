"""`f5-runtime voices add|list|rm` and `synth --voice NAME` (test engine, real CLI process,
a temp volume)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from runtime.conftest import ENGINE_DOUBLE, TESTS_DIR, wav_bytes


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNPOD_", "BUCKET_"))}
    env.update(F5_ENGINES=ENGINE_DOUBLE, PYTHONPATH=str(TESTS_DIR), F5_TMP_DIR=str(cwd / "tmp"),
               F5_VOLUME=str(cwd / "volume"))
    return subprocess.run([sys.executable, "-m", "f5_runtime", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_add_list_use_and_remove_a_voice(tmp_path: Path) -> None:
    (tmp_path / "me.wav").write_bytes(wav_bytes(2.0))
    add = cli("voices", "add", "me", "me.wav", "--text", "My own voice.", "--language", "en",
              cwd=tmp_path)
    assert add.returncode == 0, add.stderr
    assert add.stdout.startswith("registered voice me: ") and "'My own voice.'" in add.stdout
    again = cli("voices", "add", "me", "me.wav", cwd=tmp_path)
    assert again.returncode == 2 and "already registered" in again.stderr
    assert cli("voices", "add", "me", "me.wav", "--overwrite", cwd=tmp_path).returncode == 0

    listed = cli("voices", "list", "--json", cwd=tmp_path)
    voices = {v["name"]: v for v in json.loads(listed.stdout)}
    assert set(voices) == {"en-default", "zh-default", "me"}
    assert voices["me"]["builtin"] is False and voices["en-default"]["builtin"] is True
    table = cli("voices", "list", cwd=tmp_path).stdout.splitlines()
    assert table[0].split() == ["NAME", "SECONDS", "LANG", "TRANSCRIPT"]
    assert any(line.startswith("en-default") and "built-in" in line for line in table)

    synth = cli("synth", "Hello by name.", "--voice", "me", "--out", "hi.wav", cwd=tmp_path)
    assert synth.returncode == 0, synth.stderr
    assert (tmp_path / "hi.wav").stat().st_size > 0
    assert "reading inputs" not in synth.stderr  # nothing fetched for a named voice

    rm = cli("voices", "rm", "me", cwd=tmp_path)
    assert rm.returncode == 0 and rm.stdout.strip() == "deleted voice me"
    gone = cli("synth", "Hello.", "--voice", "me", "--out", "x.wav", cwd=tmp_path)
    assert gone.returncode == 2 and "no voice is named 'me'" in gone.stderr
    assert not (tmp_path / "x.wav").exists()


def test_bad_arguments_fail_before_any_model_loads(tmp_path: Path) -> None:
    bad = cli("voices", "add", "Not_OK", "me.wav", cwd=tmp_path)
    assert bad.returncode == 2 and "is not a voice name" in bad.stderr
    assert "loading models" not in bad.stderr
    builtin = cli("voices", "rm", "en-default", cwd=tmp_path)
    assert builtin.returncode == 2 and "built-in" in builtin.stderr
