"""`f5-runtime synth` and `f5-runtime align` on local files (test engine, real CLI process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import soundfile as sf

from runtime.conftest import ENGINE_DOUBLE, TESTS_DIR, wav_bytes


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNPOD_", "BUCKET_"))}
    env.update(F5_ENGINES=ENGINE_DOUBLE, PYTHONPATH=str(TESTS_DIR), F5_TMP_DIR=str(cwd / "tmp"))
    return subprocess.run([sys.executable, "-m", "f5_runtime", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_synth_writes_audio_subtitles_and_timings(tmp_path: Path) -> None:
    (tmp_path / "voice.wav").write_bytes(wav_bytes(2.0))
    proc = cli("synth", "Hello from the command line, in my own voice.", "--voice", "voice.wav",
               "--voice-text", "a reference", "--out", "out/speech.flac", "--subtitles",
               "out/speech.srt", "--nfe-steps", "8", "--seed", "3", "--speed", "1.5",
               "--json", "out/words.json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    samples, rate = sf.read(tmp_path / "out/speech.flac")
    assert rate == 24_000 and abs(len(samples) / rate - 0.3 * 9 / 1.5) < 0.001  # speed 1.5
    srt = (tmp_path / "out/speech.srt").read_text()
    assert srt.startswith("1\n00:00:00,000 --> ") and "voice." in srt
    words = json.loads((tmp_path / "out/words.json").read_text())["word_timings"]
    assert [w["word"] for w in words][:2] == ["Hello", "from"]
    assert "loading models..." in proc.stderr and "generating speech..." in proc.stderr
    assert proc.stdout.startswith("wrote out/speech.flac\nwrote out/speech.srt\n")
    assert "1.80 s of audio, 9 words timed" in proc.stdout and "generate" in proc.stdout
    assert "preparing the voice reference..." in proc.stderr
    assert "timing the words..." in proc.stderr
    assert list((tmp_path / "tmp").iterdir()) == [], "temp dirs removed"


def test_synth_rejects_bad_options_before_loading_models(tmp_path: Path) -> None:
    (tmp_path / "voice.wav").write_bytes(wav_bytes(1.0))
    proc = cli("synth", "Hi", "--voice", "voice.wav", "--out", "x.wav", "--nfe-steps", "500",
               cwd=tmp_path)
    assert proc.returncode == 2
    assert "input.options.nfe_steps: must be between 4 and 64, got 500" in proc.stderr
    assert "loading models" not in proc.stderr and not (tmp_path / "x.wav").exists()
    missing = cli("synth", "Hi", "--voice", "nope.wav", "--out", "x.wav", cwd=tmp_path)
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_align_with_text_and_transcription(tmp_path: Path) -> None:
    (tmp_path / "talk.wav").write_bytes(wav_bytes(3.0))
    aligned = cli("align", "talk.wav", "--text", "one two three", "--subtitles", "talk.ass",
                  cwd=tmp_path)
    assert aligned.returncode == 0, aligned.stderr
    ass_text = (tmp_path / "talk.ass").read_bytes()
    assert ass_text.startswith(b"\xef\xbb\xbf[Script Info]") and b"{\\kf" in ass_text
    transcribed = cli("align", "talk.wav", "--subtitles", "talk.vtt", "--no-karaoke",
                      cwd=tmp_path)
    assert transcribed.returncode == 0, transcribed.stderr
    vtt = (tmp_path / "talk.vtt").read_text()
    assert vtt.startswith("WEBVTT") and "hello from the test engine" in vtt and "<00:" not in vtt


def test_the_readme_job_leaves_files_and_a_summary(tmp_path: Path, repo_root: Path) -> None:
    """The README's main command: `f5-runtime job test_input.json` (inline outputs)."""
    job = repo_root / "test_input.json"
    proc = cli("job", str(job), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    audio, rate = sf.read(tmp_path / "out" / "speech.wav")
    assert rate == 24_000 and len(audio) > 0
    ass_bytes = (tmp_path / "out" / "speech.ass").read_bytes()
    assert ass_bytes.startswith(b"\xef\xbb\xbf[Script Info]")
    lines = proc.stdout.splitlines()
    assert lines[:2] == ["wrote out/speech.wav", "wrote out/speech.ass"]
    words = len(json.loads(job.read_text())["input"]["text"].split())
    assert f"s of audio, {words} words timed" in lines[2]
    assert lines[3].startswith("stages (s): validate ") and "publish" in lines[3]
    assert "audio_base64" not in proc.stdout + proc.stderr, "no base64 dump for the reader"
    assert "{'" not in proc.stderr, "start-up logs are lines, not a dict"

    as_json = cli("job", str(job), "--out", "again", "--json", cwd=tmp_path)
    assert as_json.returncode == 0, as_json.stderr
    result = json.loads(as_json.stdout)
    assert result["kind"] == "synthesize" and "audio_base64" in result
    assert "wrote again/speech.wav" in as_json.stderr  # the summary moves to stderr


def test_a_failing_job_says_why_on_stderr(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text(json.dumps({"text": "hi"}))  # a bare input works too
    proc = cli("job", "bad.json", cwd=tmp_path)
    assert proc.returncode == 1 and proc.stdout == ""
    assert "error: input: nothing to do" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_help_describes_the_tool_and_verbose_works_after_a_command(tmp_path: Path) -> None:
    top = cli("--help", cwd=tmp_path)
    assert top.returncode == 0
    assert "Text to speech in the voice of a short reference recording" in top.stdout
    for command in ("job", "synth", "align", "worker", "serve", "fetch-models", "healthcheck"):
        assert f"    {command}" in top.stdout
    assert "f5-runtime job test_input.json" in top.stdout  # an example to start from
    (tmp_path / "talk.wav").write_bytes(wav_bytes(1.0))
    quiet = cli("align", "talk.wav", "--subtitles", "t.srt", cwd=tmp_path)
    verbose = cli("align", "talk.wav", "--subtitles", "t.srt", "-v", cwd=tmp_path)
    assert quiet.returncode == verbose.returncode == 0, verbose.stderr
    assert " DEBUG " not in quiet.stderr and " DEBUG " in verbose.stderr
