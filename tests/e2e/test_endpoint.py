"""A user's jobs against the endpoint as deployed: models fetched on a pod, the volume moved,
the worker offline, inputs and outputs on S3. Real f5-tts and whisperx code on tiny models."""

from __future__ import annotations

import io
import json

import ass
import numpy as np
import pytest
import requests
import soundfile as sf
from fixtures.tiny_align import REFERENCE_TEXT, f5_examples

JOB_TIMEOUT = 300  # seconds; tiny models on a shared 2-core CPU
SOURCE_SECONDS = 3.0


def tone_wav(seconds: float, rate: int = 16_000) -> bytes:
    t = np.arange(int(seconds * rate), dtype=np.float32) / rate
    buf = io.BytesIO()
    sf.write(buf, 0.2 * np.sin(2 * np.pi * 220 * t), rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def completed(endpoint, job_input: dict) -> dict:
    response = endpoint.runsync(job_input, timeout=JOB_TIMEOUT)
    assert response.get("status") == "COMPLETED", (response, endpoint.log()[-4000:])
    return response["output"]


def assert_timed(words: list[dict], text_words: list[str], duration: float) -> None:
    assert [w["word"] for w in words] == text_words
    previous_end = 0.0
    for w in words:
        assert all(isinstance(w[k], float) for k in ("start", "end", "score")), w
        assert previous_end - 1e-3 <= w["start"] <= w["end"] <= duration + 1e-3, w
        previous_end = w["end"]


def test_the_seed_example_end_to_end(endpoint, s3, bucket, fetched_volume) -> None:
    reference = (f5_examples() / "basic" / "basic_ref_en.wav").read_bytes()
    s3.put(bucket, "reference.wav", reference)
    s3.put(bucket, "input.wav", tone_wav(SOURCE_SECONDS))
    text = "Text to synthesize, in 2014 for $5."
    job = {  # the original design's request, with no transcript of the reference (ASR runs)
        "audio_url": f"s3://{bucket}/input.wav",
        "voice_reference_url": f"s3://{bucket}/reference.wav",
        "text": text,
        "options": {"create_subtitles": True, "subtitle_format": "ass", "nfe_steps": 8},
    }
    out = completed(endpoint, job)

    # Dubbing: the speech is fitted to the source recording, every word is timed as written.
    assert out["duration"] == pytest.approx(SOURCE_SECONDS, abs=0.05)
    assert_timed(out["word_timings"], text.split(), out["duration"])
    # Outputs land beside the inputs, under the job's own prefix, and nowhere else.
    keys = s3.keys(bucket)
    outputs = [k for k in keys if k.startswith("f5-tts-outputs/")]
    assert len(outputs) == 2 and {k.rsplit(".", 1)[1] for k in outputs} == {"wav", "ass"}
    assert out["audio_url"] == f"s3://{bucket}/{next(k for k in outputs if k.endswith('.wav'))}"
    # The presigned URLs serve exactly what is in the bucket.
    audio = requests.get(out["audio_presigned_url"], timeout=30).content
    stored = s3.client.get_object(Bucket=bucket, Key=out["audio_url"].split("/", 3)[3])
    assert audio == stored["Body"].read()
    assert stored["ContentType"] == "audio/wav"
    samples, rate = sf.read(io.BytesIO(audio))
    assert rate == out["sample_rate"] == 24_000
    assert len(samples) / rate == pytest.approx(out["duration"], abs=0.01)
    assert np.abs(samples).max() > 0.0, "the vocoder produced sound, not silence"
    subtitles = requests.get(out["subtitles_presigned_url"], timeout=30).content
    assert subtitles.startswith(b"\xef\xbb\xbf"), "ASS is written UTF-8 with a BOM"
    doc = ass.parse_string(subtitles.decode("utf-8-sig"))
    assert "$5." in "".join(e.text for e in doc.events)

    # The prepared reference is cached on the volume: a second job skips decoding and ASR.
    refs = sorted(p for p in (fetched_volume / "f5tts" / "refs").rglob("*") if p.is_file())
    assert refs, "the prepared reference was cached on the volume"
    assert "reference cache miss" in endpoint.log(), "the first use prepared it"
    seen = len(endpoint.log())
    completed(endpoint, {**job, "options": {**job["options"], "seed": 7}})
    second = endpoint.log()[seen:]
    assert "reference cache hit" in second and "reference cache miss" not in second, second
    assert sorted(p for p in (fetched_volume / "f5tts" / "refs").rglob("*") if p.is_file()) == refs


def test_subtitle_a_recording_with_its_text_and_without(endpoint, s3, bucket) -> None:
    s3.put(bucket, "talk.flac", (f5_examples() / "multi" / "town.flac").read_bytes(),
           content_type="audio/flac")
    aligned = completed(endpoint, {
        "audio_url": f"s3://{bucket}/talk.flac", "text": REFERENCE_TEXT,
        "options": {"subtitle_format": "srt"},
        "output": {"bucket": bucket, "prefix": "subs/"},
    })
    assert_timed(aligned["word_timings"], REFERENCE_TEXT.split(), aligned["duration"])
    srt = requests.get(aligned["subtitles_presigned_url"], timeout=30).text
    assert "-->" in srt and "nature" in srt
    written = [k for k in s3.keys(bucket) if k != "talk.flac"]
    assert len(written) == 1 and written[0].startswith("subs/") and written[0].endswith(".srt")

    transcribed = completed(endpoint, {  # no text: Whisper (tiny, random) transcribes it
        "audio_url": f"s3://{bucket}/talk.flac", "options": {"subtitle_format": "vtt"},
    })
    assert isinstance(transcribed["text"], str)
    vtt = requests.get(transcribed["subtitles_presigned_url"], timeout=30).text
    assert vtt.startswith("WEBVTT")


def test_a_bad_request_leaves_the_worker_serving(endpoint, s3, bucket) -> None:
    response = endpoint.runsync({"text": "Hello.", "voice_refrence_url": "s3://b/k.wav"})
    assert response["status"] == "FAILED"
    message = json.dumps(response["error"])
    assert "voice_refrence_url" in message and "Traceback" not in message
    assert s3.keys(bucket) == []
    s3.put(bucket, "input.wav", tone_wav(1.0))
    ok = completed(endpoint, {"audio_url": f"s3://{bucket}/input.wav", "text": "Still here."})
    assert [w["word"] for w in ok["word_timings"]] == ["Still", "here."]
