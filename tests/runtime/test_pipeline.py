"""flow.job.run_job in-process: both job kinds, output placement, stages and timings, temp
dirs, faults."""

from __future__ import annotations

import base64
import io
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf
from f5_runtime.config import Settings
from f5_runtime.errors import StorageError
from f5_runtime.flow.job import run_job
from f5_runtime.io.storage import Storage

from runtime.conftest import wav_bytes
from runtime.engine_double import TRANSCRIPT, ToneEngines

SEED_EXAMPLE = {  # the original design's "API Interface" example, unchanged
    "audio_url": "s3://bucket/input.wav",
    "voice_reference_url": "s3://bucket/reference.wav",
    "text": "Text to synthesize",
    "options": {"create_subtitles": True, "subtitle_format": "ass"},
}


def job(raw, env, job_id="job-1", engines=None, **kwargs):
    settings = Settings.from_env(env)
    return run_job(raw, job_id, engines=engines or ToneEngines(), storage=Storage(settings),
                   settings=settings, **kwargs)


def plain_json(value) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and plain_json(v) for k, v in value.items())
    if isinstance(value, list):
        return all(plain_json(v) for v in value)
    return value is None or type(value) in (str, int, float, bool)


@pytest.fixture
def seed_bucket(s3):
    s3.client.create_bucket(Bucket="bucket")
    s3.put("bucket", "reference.wav", wav_bytes(3.0, 24_000))
    s3.put("bucket", "input.wav", wav_bytes(4.0, 16_000))
    return "bucket"


def test_seed_example_is_a_dubbing_job_with_outputs_next_to_its_inputs(s3, seed_bucket,
                                                                      settings_env) -> None:
    stages = []
    result = job(SEED_EXAMPLE, settings_env, on_stage=lambda s: stages.append(s.name)).to_json()
    assert plain_json(result) and json.loads(json.dumps(result, allow_nan=False)) == result
    assert result["kind"] == "synthesize"
    assert result["audio_url"] == "s3://bucket/f5-tts-outputs/job-1/speech.wav"
    assert result["subtitles_url"] == "s3://bucket/f5-tts-outputs/job-1/speech.ass"
    assert result["duration"] == pytest.approx(4.0, abs=0.01), "fitted to the source recording"
    assert [w["word"] for w in result["word_timings"]] == ["Text", "to", "synthesize"]
    assert list(result["timings"]) == ["validate", "fetch", "reference", "generate", "vocode",
                                       "align", "assemble", "encode", "subtitles", "publish"]
    assert stages == ["validate", "fetch", "reference", "generate", "generate", "vocode", "align",
                      "assemble", "encode", "subtitles", "publish"]
    head = s3.client.head_object(Bucket="bucket", Key="f5-tts-outputs/job-1/speech.ass")
    assert head["ContentType"].startswith("text/x-ssa")
    body = s3.client.get_object(Bucket="bucket", Key="f5-tts-outputs/job-1/speech.wav")["Body"]
    samples, rate = sf.read(io.BytesIO(body.read()))
    assert rate == 24_000 and len(samples) == pytest.approx(4.0 * 24_000, abs=2)


def test_subtitle_jobs_align_known_text_or_transcribe(s3, seed_bucket, settings_env) -> None:
    engines = ToneEngines()
    aligned = job({"audio_url": "s3://bucket/input.wav", "text": "one two three",
                   "options": {"subtitle_format": "srt"}}, settings_env, engines=engines)
    assert aligned.kind == "subtitle" and aligned.audio is None
    assert aligned.subtitles.s3_url.endswith("/subtitles.srt")
    assert [w.word for w in aligned.word_timings] == ["one", "two", "three"]
    transcribed = job({"audio_url": "s3://bucket/input.wav", "language": "de"}, settings_env,
                      job_id="job-2", engines=engines)
    assert transcribed.text == TRANSCRIPT and transcribed.language == "de"
    assert engines.calls == ["align", "transcribe"]
    assert "audio_url" not in transcribed.to_json()


def test_inline_outputs_without_any_bucket(settings_env) -> None:
    voice = "data:audio/wav;base64," + base64.b64encode(wav_bytes(1.0)).decode()
    result = job({"text": "Hello there", "voice_reference_url": voice,
                  "options": {"output_format": "flac", "subtitle_format": "vtt"}},
                 settings_env).to_json()
    assert "audio_url" not in result
    samples, rate = sf.read(io.BytesIO(base64.b64decode(result["audio_base64"])))
    assert rate == 24_000 and len(samples) > 0 and result["audio_format"] == "flac"
    assert result["subtitles"].startswith("WEBVTT") and "Hello" in result["subtitles"]


def test_temp_dirs_are_removed_after_success_and_failure(s3, seed_bucket, settings_env) -> None:
    jobs_dir = Path(settings_env["F5_TMP_DIR"])
    job(SEED_EXAMPLE, settings_env)
    assert jobs_dir.is_dir() and list(jobs_dir.iterdir()) == []
    with pytest.raises(RuntimeError):
        job({**SEED_EXAMPLE, "text": "__fail__ now"}, settings_env, job_id="job-2")
    assert list(jobs_dir.iterdir()) == []
    assert s3.keys("bucket") == ["f5-tts-outputs/job-1/speech.ass",
                                 "f5-tts-outputs/job-1/speech.wav", "input.wav", "reference.wav"]


class StopsStorage(ToneEngines):
    """Stops the S3 server while the model runs: the outputs then have nowhere to go."""

    def __init__(self, server):
        super().__init__()
        self.server = server

    def generate(self, *args, **kwargs):
        self.server.stop()
        self.server._server.server_close()  # refuse connections, like a crashed server
        return super().generate(*args, **kwargs)


def test_s3_server_stopped_mid_job_retries_then_fails_cleanly(s3, seed_bucket, settings_env,
                                                              caplog) -> None:
    from fixtures.s3 import start_moto

    second = start_moto()  # same in-process moto state, its own port: ours to stop
    env = {**settings_env, "BUCKET_ENDPOINT_URL": second.endpoint}
    caplog.set_level(logging.WARNING, logger="f5_runtime")
    with pytest.raises(StorageError) as info:
        job(SEED_EXAMPLE, env, engines=StopsStorage(second.server))
    message = str(info.value)
    assert "could not write s3://bucket/f5-tts-outputs/job-1/speech.wav after 3 attempts" in message
    assert "try again" in message and "Traceback" not in message
    retries = [r for r in caplog.records if "retrying" in r.getMessage()]
    assert len([r for r in retries if r.getMessage().startswith("writing")]) == 2
    # the output is recorded before its PUT, so the rollback tries to delete it too
    assert any(r.getMessage().startswith("deleting") for r in retries)
    assert s3.keys("bucket") == ["input.wav", "reference.wav"], "no partial outputs"
    assert list(Path(settings_env["F5_TMP_DIR"]).iterdir()) == []


def test_failed_second_upload_removes_the_first(s3, seed_bucket, settings_env, faults) -> None:
    faults.fail_put_suffixes.add(".ass")
    env = {**settings_env, "BUCKET_ENDPOINT_URL": faults.endpoint}
    with pytest.raises(StorageError, match=r"speech\.ass"):
        job(SEED_EXAMPLE, env)
    puts = [p for m, p in faults.requests if m == "PUT" and not p.endswith("/.write-check")]
    assert puts[0].endswith("/speech.wav") and puts.count(puts[-1]) == 3
    assert ("DELETE", "/bucket/f5-tts-outputs/job-1/speech.wav") in faults.requests
    assert s3.keys("bucket") == ["input.wav", "reference.wav"]


def test_service_modules_never_import_torch() -> None:
    code = (
        "import sys\n"
        "import f5_runtime.flow.job, f5_runtime.serving.worker, f5_runtime.api.request\n"
        "import f5_runtime.io.storage, f5_runtime.io.subtitles, f5_runtime.serving.serve\n"
        "import f5_runtime.serving.local_job, f5_runtime.serving.local_synth\n"
        "import f5_runtime.serving.local_align, f5_runtime.engines, f5_runtime.engines.voice\n"
        "heavy = ('torch', 'runpod', 'f5_tts', 'whisperx', 'boto3')\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
