"""The endpoint through RunPod's own local API server (a subprocess), S3 through moto.

The server runs as deployed: private addresses and plain http refused, 1 MiB / 30 s / 2000
character limits, the test engine behind the `Engines` seam, S3 reached through a proxy that
can deny a bucket or fail uploads.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import ass
import pytest
import requests
import soundfile as sf

from runtime.conftest import wav_bytes

LOCKED = "locked-bucket"  # the fault proxy answers 403 AccessDenied for it


@pytest.fixture
def inputs(s3, bucket, faults):
    faults.deny_buckets.add(LOCKED)
    s3.put(bucket, "voice.wav", wav_bytes(2.0))
    s3.put(bucket, "input.wav", wav_bytes(3.0))
    s3.put(bucket, "notes.txt", b"these are meeting notes, not audio\n" * 20, "text/plain")
    s3.put(bucket, "empty.wav", b"")
    s3.put(bucket, "big.wav", b"\0" * (2 * 2**20))
    s3.put(bucket, "long.wav", wav_bytes(40.0, 8_000))
    return {"voice": f"s3://{bucket}/voice.wav", "input": f"s3://{bucket}/input.wav",
            "bucket": bucket}


def good_job(inputs) -> dict:
    return {"text": "A good job after a bad one.", "voice_reference_url": inputs["voice"],
            "output": {"bucket": inputs["bucket"], "prefix": "good/"}}


def synth(voice: str, **extra) -> dict:
    return {"text": "Hello there.", "voice_reference_url": voice, **extra}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


V = "s3://test-bucket/voice.wav"
BAD_REQUESTS = {
    "missing text": ({"voice_reference_url": V}, "input.text: required to synthesize"),
    "empty text": (synth(V, text="  "), "input.text: must not be empty"),
    "neither job kind": ({"text": "hello"}, "send text + voice_reference_url"),
    "typo in a field": ({"text": "x", "voice_refrence_url": V},
                        "did you mean 'voice_reference_url'"),
    "unknown option": (synth(V, options={"nfe_step": 8}), "input.options.nfe_step: is not a"),
    "text not a string": (synth(V, text=42), "input.text: must be a string, got 42"),
    "options not an object": (synth(V, options="fast"), "input.options: must be a JSON object"),
    "nfe_steps not a number": (synth(V, options={"nfe_steps": "many"}),
                               "input.options.nfe_steps: must be an integer"),
    "nfe_steps out of range": (synth(V, options={"nfe_steps": 500}),
                               "input.options.nfe_steps: must be between 4 and 64, got 500"),
    "speed out of range": (synth(V, options={"speed": 5}), "must be between 0.5 and 2.0"),
    "cfg_strength negative": (synth(V, options={"cfg_strength": -1}),
                              "input.options.cfg_strength: must be between 0.0 and 10.0"),
    "seed negative": (synth(V, options={"seed": -1}), "input.options.seed: must be between 0"),
    "subtitle format": (synth(V, options={"subtitle_format": "docx"}), "'ass', 'srt' or 'vtt'"),
    "output format": (synth(V, options={"output_format": "aac"}), "'wav', 'flac', 'ogg' or"),
    "language": (synth(V, language="english"), "input.language: must be an ISO 639-1 code"),
    "ftp scheme": (synth("ftp://example.com/v.wav"), "must be an s3://bucket/key, https://"),
    "file URL": (synth("file:///etc/passwd"), "local files are not accessible"),
    "local path": (synth("/etc/passwd"), "local files are not accessible"),
    "plain http": (synth("http://example.com/v.wav"), "plain http:// is not accepted"),
    "s3 URL without key": (synth("s3://test-bucket"), "must be s3://bucket/key"),
    "loopback URL": (synth("https://127.0.0.1/v.wav"), "resolves to a loopback address"),
    "localhost URL": (synth("https://localhost:8443/v.wav"), "resolves to a loopback address"),
    "IPv6 loopback URL": (synth("https://[::1]/v.wav"), "resolves to a loopback address"),
    "private URL": (synth("https://10.0.0.5/v.wav"), "resolves to a private address"),
    "metadata URL": (synth("https://169.254.169.254/latest/meta-data/"),
                     "resolves to a cloud metadata address"),
    "data URI not audio type": (synth("data:text/plain;base64,aGVsbG8="),
                                "a data: URI must look like data:audio/"),
    "malformed base64": (synth("data:audio/wav;base64,@@not-base64@@"), "not valid base64"),
    "data URI not audio": (synth("data:audio/wav;base64," + b64(b"hello, world" * 50)),
                           "voice reference is not a readable audio file"),
    "missing key": (synth("s3://test-bucket/nope.wav"), "no such object (404)"),
    "missing bucket": (synth("s3://no-such-bucket/v.wav"), "the bucket does not exist"),
    "bucket without access": (synth(f"s3://{LOCKED}/v.wav"), "access denied (AccessDenied)"),
    "oversized input": (synth("s3://test-bucket/big.wav"), "larger than the 1 MiB limit"),
    "too long a recording": ({"audio_url": "s3://test-bucket/long.wav"},
                             "audio is 40 s long, more than the 30 s limit"),
    "not audio in S3": (synth("s3://test-bucket/notes.txt"), "is not a readable audio file"),
    "empty object": (synth("s3://test-bucket/empty.wav"), "voice reference is empty"),
    "text too long": (synth(V, text="word " * 500), "input.text: must be at most 2000"),
    "bad output bucket name": (synth(V, output={"bucket": "Not_A_Bucket"}),
                               "input.output.bucket: must be an S3 bucket name"),
    "output prefix escapes": (synth(V, output={"bucket": "test-bucket", "prefix": "../up"}),
                              "input.output.prefix: must be a relative key prefix"),
    "output bucket without access": (synth(V, output={"bucket": LOCKED}),
                                     "access denied (AccessDenied)"),
    "output bucket missing": (synth(V, output={"bucket": "missing-out"}),
                              "the bucket does not exist"),
    "reference text without reference": ({"audio_url": V, "voice_reference_text": "hi"},
                                         "input.voice_reference_text: only valid with"),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_request_gets_a_clear_error_and_the_worker_carries_on(
        case, api_server, inputs, s3, api_jobs_dir: Path) -> None:
    job_input, expected = BAD_REQUESTS[case]
    before = s3.keys(inputs["bucket"])
    response = api_server.runsync(job_input)
    assert response["status"] == "FAILED", response
    error = response["error"]
    assert expected in error
    assert "Traceback" not in error and not error.lstrip().startswith("{")
    assert s3.keys(inputs["bucket"]) == before, "nothing written to the bucket"
    assert list(api_jobs_dir.iterdir()) == [], "the job's temp dir is gone"
    after = api_server.runsync(good_job(inputs))
    assert after["status"] == "COMPLETED", after
    assert after["output"]["audio_url"].startswith(f"s3://{inputs['bucket']}/good/")


def test_seed_style_job_through_runsync_field_by_field(api_server, inputs, s3) -> None:
    job_input = {"audio_url": inputs["input"], "voice_reference_url": inputs["voice"],
                 "text": "Text to synthesize", "language": "en",
                 "options": {"create_subtitles": True, "subtitle_format": "ass", "seed": 7},
                 "output": {"bucket": inputs["bucket"], "prefix": "jobs/"}}
    response = api_server.runsync(job_input)
    assert response["status"] == "COMPLETED", response
    out, job_id = response["output"], response["id"]
    prefix = f"s3://{inputs['bucket']}/jobs/{job_id}/"
    assert out["kind"] == "synthesize"
    assert out["audio_url"] == prefix + "speech.wav" and out["audio_format"] == "wav"
    assert out["subtitles_url"] == prefix + "speech.ass" and out["subtitle_format"] == "ass"
    assert out["text"] == "Text to synthesize" and out["language"] == "en"
    assert out["duration"] == pytest.approx(3.0, abs=0.01) and out["sample_rate"] == 24_000
    assert [w["word"] for w in out["word_timings"]] == ["Text", "to", "synthesize"]
    for word in out["word_timings"]:
        assert set(word) == {"word", "start", "end", "score"}
        assert 0 <= word["start"] <= word["end"] <= out["duration"]
    assert out["processing_time"] > 0
    assert {"validate", "fetch", "reference", "generate", "vocode", "align", "assemble",
            "encode", "subtitles", "publish"} == set(out["timings"])
    assert sum(out["timings"].values()) == pytest.approx(out["processing_time"], abs=0.005)

    audio = requests.get(out["audio_presigned_url"], timeout=30)
    assert audio.status_code == 200 and audio.headers["Content-Type"] == "audio/wav"
    samples, rate = sf.read(io.BytesIO(audio.content))
    assert rate == 24_000 and len(samples) == pytest.approx(3.0 * 24_000, abs=2)
    subtitles = requests.get(out["subtitles_presigned_url"], timeout=30)
    assert subtitles.headers["Content-Type"].startswith("text/x-ssa")
    assert subtitles.content.startswith(b"\xef\xbb\xbf[Script Info]")
    doc = ass.parse_string(subtitles.content.decode("utf-8-sig"))
    assert "{\\kf" in doc.events[0].text and "synthesize" in doc.events[-1].text
    keys = s3.keys(inputs["bucket"])
    assert [k for k in keys if k.startswith("jobs/")] == [f"jobs/{job_id}/speech.ass",
                                                          f"jobs/{job_id}/speech.wav"]


def test_run_then_status(api_server, inputs) -> None:
    job_id = api_server.run({"audio_url": inputs["input"], "text": "one two three four",
                             "options": {"subtitle_format": "vtt"}})
    response = api_server.status(job_id)
    assert response["status"] == "COMPLETED", response
    out = response["output"]
    assert out["kind"] == "subtitle" and "audio_url" not in out
    assert out["subtitles_url"].endswith(f"f5-tts-outputs/{job_id}/subtitles.vtt")
    vtt = requests.get(out["subtitles_presigned_url"], timeout=30).text
    assert vtt.startswith("WEBVTT") and "four" in vtt


def test_engine_failures_are_actionable_and_the_server_survives(api_server, inputs) -> None:
    failed = api_server.runsync(good_job(inputs) | {"text": "__fail__ now"})
    assert failed["status"] == "FAILED"
    assert f"(job {failed['id']})" in failed["error"] and "during generate" in failed["error"]
    broken = api_server.runsync(good_job(inputs) | {"text": "__cuda__ now"})
    assert "being replaced" in broken["error"]
    assert api_server.alive()
    assert api_server.runsync(good_job(inputs))["status"] == "COMPLETED"
    assert "Traceback" in api_server.log(), "the traceback goes to the log"
