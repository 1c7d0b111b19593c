"""The service with the real engines (F5-TTS + WhisperX code, tiny architectures with random
weights: F5_LOAD_FORMAT=dummy F5_TTS_MODEL=tiny) through RunPod's local API server and S3."""

from __future__ import annotations

import io

import ass
import pytest
import requests
import soundfile as sf
from fixtures.api_server import start_api_server, stop_api_server

from runtime.conftest import wav_bytes


@pytest.fixture(scope="module")
def real_server(s3_server, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("real-engines")
    env = {**s3_server.env(), "F5_LOAD_FORMAT": "dummy", "F5_TTS_MODEL": "tiny",
           "F5_DEVICE": "cpu", "F5_VOLUME": str(workdir / "volume"), "HF_HUB_OFFLINE": "1"}
    server = start_api_server(env, workdir)
    yield server
    stop_api_server(server)


def test_seed_example_with_the_real_engines(real_server, s3, bucket) -> None:
    s3.put(bucket, "reference.wav", wav_bytes(3.0, 24_000))
    s3.put(bucket, "input.wav", wav_bytes(2.5, 16_000))
    response = real_server.runsync({
        "audio_url": f"s3://{bucket}/input.wav",
        "voice_reference_url": f"s3://{bucket}/reference.wav",
        "voice_reference_text": "A short reference clip.",
        "text": "Text to synthesize",
        "options": {"create_subtitles": True, "subtitle_format": "ass", "nfe_steps": 4,
                    "seed": 1},
    }, timeout=300)
    assert response["status"] == "COMPLETED", (response, real_server.log()[-3000:])
    out = response["output"]
    assert out["duration"] == pytest.approx(2.5, abs=0.05), "dubbing fits the source"
    assert [w["word"] for w in out["word_timings"]] == ["Text", "to", "synthesize"]
    audio = requests.get(out["audio_presigned_url"], timeout=30).content
    samples, rate = sf.read(io.BytesIO(audio))
    assert rate == out["sample_rate"] == 24_000
    assert len(samples) / rate == pytest.approx(2.5, abs=0.05)
    subtitles = requests.get(out["subtitles_presigned_url"], timeout=30).content
    doc = ass.parse_string(subtitles.decode("utf-8-sig"))
    assert "synthesize" in doc.events[-1].text
    assert "engines ready" in real_server.log()


def test_verified_speech_with_random_weights_completes_and_reports(real_server, s3, bucket):
    """Random weights babble: verification fails every attempt, so each chunk is sampled
    max_attempts times with the job's seed sequence, the best is kept, the job completes;
    the model reads the spoken form while the user gets the written words."""
    s3.put(bucket, "reference.wav", wav_bytes(3.0, 24_000))
    text = "Dr. Smith paid $5 for 2 apples."
    response = real_server.runsync({
        "voice_reference_url": f"s3://{bucket}/reference.wav",
        "voice_reference_text": "A short reference clip.",
        "text": text,
        "options": {"create_subtitles": True, "subtitle_format": "srt", "nfe_steps": 4,
                    "seed": 5, "max_attempts": 2},
    }, timeout=300)
    assert response["status"] == "COMPLETED", (response, real_server.log()[-3000:])
    out = response["output"]
    assert [w["word"] for w in out["word_timings"]] == text.split()
    quality = out["quality"]
    chunk = quality["chunks"][0]
    assert chunk["spoken"] == "doctor Smith paid five dollars for two apples."
    assert chunk["text"] == text
    assert 1 <= chunk["attempts"] <= 2
    passed = quality["unverified"] == 0
    assert len(chunk["rejected"]) == chunk["attempts"] - passed
    assert quality["regenerated"] == (chunk["attempts"] > 1)
