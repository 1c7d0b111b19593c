"""The OpenAI speech API through the official `openai` client against `f5-runtime serve`."""

from __future__ import annotations

import base64
import io
import json
import time

import av
import numpy as np
import openai
import pytest
import requests

from server.conftest import KEYS

TEXT = "Hello there. This is two."  # the test engine: 0.3 s a word, one chunk a sentence
SECONDS = 0.3 * 5 - 0.1  # five words, one 0.1 s cross-fade
RATE = 24_000
OPENAI_FIELDS = ("model", "voice", "input", "speed", "response_format", "stream_format")


@pytest.fixture(scope="module")
def client(http_server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{http_server.url}/v1", api_key=KEYS[1], max_retries=0)


def decode(data: bytes, fmt: str) -> tuple[np.ndarray, int, int]:
    """(mono samples, rate, channels) of an encoded response."""
    if fmt == "pcm":
        return np.frombuffer(data, "<i2").astype(np.float32) / 32767, RATE, 1
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        frames = [f.to_ndarray() for f in container.decode(stream)]
        return np.concatenate(frames, axis=1)[0], stream.rate, stream.channels


@pytest.mark.parametrize("fmt", ["mp3", "opus", "aac", "flac", "wav", "pcm"])
def test_every_response_format_decodes_to_the_speech(client, fmt: str) -> None:
    response = client.audio.speech.create(model="tts-1", voice="alloy", input=TEXT,
                                          response_format=fmt)
    samples, rate, channels = decode(response.content, fmt)
    assert channels == 1
    assert rate == (48_000 if fmt == "opus" else RATE)
    # lossy codecs pad a little (encoder delay, whole frames)
    assert len(samples) / rate == pytest.approx(SECONDS, abs=0.002 if fmt in ("wav", "pcm",
                                                                            "flac") else 0.08)
    assert np.abs(samples).max() > 0.05, "the tone is there"
    if fmt == "wav":
        assert response.content[4:8] == b"\xff\xff\xff\xff", "a stream: sizes unknown"


def test_default_format_is_mp3_and_model_names_are_listed(client) -> None:
    response = client.audio.speech.create(model="f5-tts", voice="en-default", input=TEXT)
    assert response.response.headers["content-type"] == "audio/mpeg"
    assert {m.id for m in client.models.list()} == {"f5-tts", "tts-1", "tts-1-hd",
                                                    "gpt-4o-mini-tts"}


def test_streaming_response_arrives_in_pieces(client) -> None:
    text = "One two three. Four five six. Seven eight nine. Ten eleven twelve."
    with client.audio.speech.with_streaming_response.create(
            model="tts-1", voice="nova", input=text, response_format="pcm") as response:
        pieces = [p for p in response.iter_bytes() if p]
    assert len(pieces) >= 4, "one piece a chunk at least (and the tail)"
    samples = len(b"".join(pieces)) // 2
    assert samples / RATE == pytest.approx(0.3 * 12 - 0.1 * 3, abs=0.002)


def test_sse_events(client, http_server) -> None:
    response = client.audio.speech.create(model="tts-1", voice="alloy", input=TEXT,
                                          response_format="pcm", stream_format="sse")
    events = [json.loads(line[len("data: "):]) for line in response.text.splitlines()
              if line.startswith("data: ")]
    kinds = [e["type"] for e in events]
    assert kinds[-1] == "speech.audio.done" and kinds.count("speech.audio.done") == 1
    assert kinds.count("speech.audio.words") == 2
    pcm = b"".join(base64.b64decode(e["audio"]) for e in events
                   if e["type"] == "speech.audio.delta")
    assert len(pcm) // 2 / RATE == pytest.approx(SECONDS, abs=0.002)
    words = [w for e in events if e["type"] == "speech.audio.words" for w in e["words"]]
    assert [w["word"] for w in words] == ["Hello", "there.", "This", "is", "two."]
    starts = [w["start"] for w in words]
    assert starts == sorted(starts) and words[-1]["end"] <= SECONDS
    assert words[2]["start"] >= 0.5, "the second chunk's words are on the output's timeline"



def test_sse_done_carries_usage_and_the_stage_timings(client) -> None:
    started = time.perf_counter()
    response = client.audio.speech.create(model="tts-1", voice="alloy", input=TEXT,
                                          response_format="pcm", stream_format="sse")
    elapsed = time.perf_counter() - started
    events = [json.loads(line[len("data: "):]) for line in response.text.splitlines()
              if line.startswith("data: ")]
    done = events[-1]
    samples = sum(len(base64.b64decode(e["audio"])) // 2 for e in events
                  if e["type"] == "speech.audio.delta")
    frames = samples // 256  # output tokens: mel frames (hop 256 at 24 kHz)
    assert done["usage"] == {"input_tokens": len(TEXT), "output_tokens": frames,
                             "total_tokens": len(TEXT) + frames}
    timings = done["timings"]
    assert {"reference", "generate", "vocode", "align", "assemble", "encode"} <= set(timings)
    assert set(timings) <= {"reference", "generate", "vocode", "align", "transcribe",
                            "assemble", "encode", "wait"}
    assert all(seconds >= 0 for seconds in timings.values())
    # one clock, each moment in one stage: together within the request the client saw
    assert sum(timings.values()) <= elapsed


def test_keys_are_required_everywhere_but_ping(http_server) -> None:
    for key in (None, "wrong-key"):
        bad = openai.OpenAI(base_url=f"{http_server.url}/v1", api_key=key or "x",
                            max_retries=0)
        if key is None:
            response = requests.get(f"{http_server.url}/v1/models", timeout=10)
            assert response.status_code == 401
            assert response.json()["error"]["code"] == "invalid_api_key"
            assert "missing API key" in response.json()["error"]["message"]
            continue
        with pytest.raises(openai.AuthenticationError) as caught:
            bad.audio.speech.create(model="tts-1", voice="alloy", input=TEXT)
        assert caught.value.status_code == 401
    for route in ("/health", "/runsync"):
        assert requests.post(f"{http_server.url}{route}", json={}, timeout=10).status_code == 401
    assert requests.get(f"{http_server.url}/ping", timeout=10).status_code == 200


@pytest.mark.parametrize(("fields", "status", "param", "message"), [
    ({"speed": 9.0}, 400, "speed", "less than or equal to 4"),
    ({"model": "whisper-1"}, 400, "model", "unknown model 'whisper-1'"),
    ({"response_format": "ogg"}, 400, "response_format", "'mp3', 'opus'"),
    ({"input": "   "}, 400, "input", "must not be empty"),
    ({"input": "word " * 100}, 413, "input", "F5_MAX_TEXT_CHARS"),
    ({"language": "xx"}, 400, "language", "not served here"),
    ({"temperature": 1}, 400, "temperature", "not a known field"),
])
def test_bad_requests_get_openai_errors(client, fields, status, param, message) -> None:
    body = {"model": "tts-1", "voice": "alloy", "input": TEXT, **fields}
    known = {k: v for k, v in body.items() if k in OPENAI_FIELDS}
    extra = {k: v for k, v in body.items() if k not in OPENAI_FIELDS}  # our extensions
    with pytest.raises(openai.APIStatusError) as caught:
        client.audio.speech.create(**known, extra_body=extra)
    assert caught.value.status_code == status
    error = caught.value.body.get("error", caught.value.body)
    assert error["param"] == param and message in error["message"], error
    assert error["type"] == "invalid_request_error"
