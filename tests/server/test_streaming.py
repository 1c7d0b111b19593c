"""Streaming, cancellation, the queue and readiness, watched from outside a real server whose
engine generates a chunk only when the test lets it (no wall-clock thresholds)."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import threading

import requests
from f5_runtime.api.stream import MAX_EVENT_SECONDS
from f5_runtime.config import Settings
from f5_runtime.engines.chunking import chunk_text, chunk_text_short_first
from f5_runtime.io.storage import Storage
from f5_runtime.serving.concurrent import AsyncHandler
from f5_runtime.serving.queue_stream import streaming_handler
from f5_runtime.serving.worker import Handler
from runtime.conftest import wav_bytes
from runtime.engine_double import ToneEngines

from server.conftest import start_local

FOUR = "One two three. Four five six. Seven eight nine. Ten eleven twelve."
SPEECH = {"model": "tts-1", "voice": "alloy", "input": FOUR, "response_format": "pcm"}


def test_first_audio_leaves_before_the_last_chunk_is_generated(local_server) -> None:
    with requests.post(f"{local_server.url}/v1/audio/speech", json=SPEECH, stream=True,
                       timeout=60) as response:
        assert response.status_code == 200
        pieces = response.iter_content(chunk_size=None)
        first = next(pieces)
        assert first, "audio arrived"
        # the engine holds chunk 2 until released: whatever reached us came from chunk 1
        assert local_server.health()["chunks_generated"] == 1
        local_server.engines.release(3)
        rest = b"".join(pieces)
    assert (len(first) + len(rest)) // 2 == round((0.3 * 12 - 0.3) * 24_000)
    assert local_server.wait_for(lambda h: h["queue_depth"] == 0)["chunks_generated"] == 4


def test_a_client_that_leaves_cancels_the_rest(local_server) -> None:
    response = requests.post(f"{local_server.url}/v1/audio/speech", json=SPEECH, stream=True,
                             timeout=60)
    assert next(response.iter_content(chunk_size=None))
    response.close()  # the client hangs up while chunk 2 waits (chunk 3 queued behind it)
    local_server.wait_for(lambda h: h["chunks_cancelled"] > 0)  # the server noticed
    local_server.engines.release(3)  # let the device go on, if it still wanted to
    health = local_server.wait_for(lambda h: h["queue_depth"] == 0)
    assert health["chunks_cancelled"] >= 2, health
    assert health["chunks_generated"] + health["chunks_cancelled"] == 4
    assert health["scheduler"]["chunks_dropped"] >= 1, "the queued chunk left the device queue"
    assert local_server.engines.generated <= 2, "no chunk generated for nobody"


def test_a_full_queue_answers_429_with_retry_after(local_server) -> None:
    replies: list[requests.Response] = []

    def speak() -> None:
        replies.append(requests.post(f"{local_server.url}/v1/audio/speech", json=SPEECH,
                                     timeout=60))

    held = [threading.Thread(target=speak) for _ in range(2)]  # the queue holds two
    for thread in held:
        thread.start()
    local_server.wait_for(lambda h: h["queue_depth"] == 2)
    busy = requests.post(f"{local_server.url}/v1/audio/speech", json=SPEECH, timeout=60)
    assert busy.status_code == 429 and int(busy.headers["Retry-After"]) >= 1
    error = busy.json()["error"]
    assert error["type"] == "rate_limit_error" and "busy" in error["message"]
    assert requests.post(f"{local_server.url}/runsync", json={"input": {}},
                         timeout=60).status_code == 429
    local_server.engines.release(6)
    for thread in held:
        thread.join(timeout=60)
    assert [r.status_code for r in replies] == [200, 200]
    assert local_server.wait_for(lambda h: h["queue_depth"] == 0)["requests_rejected"] == 2


def test_ping_says_204_until_the_engines_are_loaded(tmp_path) -> None:
    local, thread = start_local(Settings.from_env({"F5_TMP_DIR": str(tmp_path)}))
    try:
        assert requests.get(f"{local.url}/ping", timeout=10).status_code == 204
        early = requests.post(f"{local.url}/v1/audio/speech", json=SPEECH, timeout=10)
        assert early.status_code == 503 and "loading" in early.json()["error"]["message"]
        local.server.config.app.state.service.set_engines(ToneEngines())
        assert requests.get(f"{local.url}/ping", timeout=10).status_code == 200
        assert requests.post(f"{local.url}/v1/audio/speech", json=SPEECH,
                             timeout=30).status_code == 200
    finally:
        local.server.should_exit = True
        thread.join(timeout=30)


def test_first_chunk_is_planned_short_for_streams() -> None:
    text = "Hello there, this is the first sentence of a long paragraph. " * 6
    usual = chunk_text(text, 200)
    short = chunk_text_short_first(text, 200, 50)
    assert len(short[0].encode()) <= 50 < len(usual[0].encode())
    assert " ".join(short) == " ".join(usual), "the same words, in order"
    assert chunk_text_short_first("Hi.", 200, 50) == ["Hi."]


def test_native_stream_over_http_events_then_result(http_server) -> None:
    from server.conftest import KEYS

    headers = {"Authorization": f"Bearer {KEYS[0]}"}
    voice = "data:audio/wav;base64," + base64.b64encode(wav_bytes(1.0)).decode()
    job = {"input": {"text": FOUR, "voice_reference_url": voice, "stream": True}}
    job_id = requests.post(f"{http_server.url}/run", json=job, headers=headers,
                           timeout=30).json()["id"]
    events, status = [], "IN_QUEUE"
    while status not in ("COMPLETED", "FAILED"):
        reply = requests.get(f"{http_server.url}/stream/{job_id}", headers=headers,
                             timeout=30).json()
        status = reply["status"]
        events += [item["output"] for item in reply["stream"]]
    assert status == "COMPLETED", reply
    chunks = [e for e in events if e["event"] == "chunk"]
    assert events[-1]["event"] == "result" and "audio_base64" in events[-1]
    assert sorted({e["chunk"] for e in chunks if e["chunk"] is not None}) == [0, 1, 2, 3]
    pcm = b"".join(base64.b64decode(e["audio_base64"]) for e in chunks)
    assert len(pcm) // 2 == round(events[-1]["duration"] * 24_000)
    words = [w["word"] for e in chunks for w in e["words"]]
    assert words == [w["word"] for w in events[-1]["word_timings"]]
    final = requests.get(f"{http_server.url}/status/{job_id}", headers=headers,
                         timeout=30).json()
    assert final["output"] == events, "the output is every event, as RunPod aggregates them"


def test_queue_worker_streams_jobs_that_ask(tmp_path) -> None:
    settings = Settings.from_env({"F5_TMP_DIR": str(tmp_path)})  # no bucket: inline outputs
    handler = AsyncHandler(Handler(ToneEngines(), Storage(settings), settings), concurrency=2)
    voice = "data:audio/wav;base64," + base64.b64encode(wav_bytes(1.0)).decode()
    text = "word " * 40 + ". " + FOUR  # a 12 s first sentence: split into several events

    async def collect(job_input) -> list[dict]:
        return [e async for e in streaming_handler(handler)({"id": "j", "input": job_input})]

    events = asyncio.run(collect({"text": text, "voice_reference_url": voice, "stream": True}))
    assert events[-1]["event"] == "result" and events[-1]["kind"] == "synthesize"
    assert all(len(json.dumps(e)) < 1_000_000 for e in events), "under RunPod's 1 MB a yield"
    assert max(e["duration"] for e in events[:-1]) <= MAX_EVENT_SECONDS
    plain = asyncio.run(collect({"text": FOUR, "voice_reference_url": voice}))
    assert len(plain) == 1 and "event" not in plain[0] and plain[0]["kind"] == "synthesize"


def test_verify_is_an_extension_field(tmp_path) -> None:
    """A chunk the test engine mumbles (even seeds) is sampled again unless `verify` is off."""
    engines = ToneEngines()
    local, thread = start_local(Settings.from_env({"F5_TMP_DIR": str(tmp_path)}), engines)
    try:
        for verify, sampled in (("off", 1), ("align", 2)):
            engines.generate_calls.clear()
            body = {**SPEECH, "input": "Hello __mumble__ words here.", "seed": 2,
                    "verify": verify}
            reply = requests.post(f"{local.url}/v1/audio/speech", json=body, timeout=60)
            assert reply.status_code == 200 and reply.content, reply.text
            assert len(engines.generate_calls) == sampled, (verify, engines.generate_calls)
        bad = requests.post(f"{local.url}/v1/audio/speech", json={**SPEECH, "verify": "maybe"},
                            timeout=60)
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "verify"
    finally:
        local.server.should_exit = True
        thread.join(timeout=30)


def test_a_runsync_client_that_leaves_stops_its_job(local_server) -> None:
    voice = "data:audio/wav;base64," + base64.b64encode(wav_bytes(1.0)).decode()
    body = json.dumps({"input": {"text": FOUR, "voice_reference_url": voice}}).encode()
    host, port = local_server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(b"POST /runsync HTTP/1.1\r\nHost: test\r\nContent-Type: application/json"
                     b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        # the first chunk is made; the second waits for the test
        local_server.wait_for(lambda h: local_server.engines.generated == 1)
    # the client hung up: the request ends without its chunks being released
    health = local_server.wait_for(lambda h: h["queue_depth"] == 0)
    assert health["runsync_cancelled"] == 1, health
    assert health["scheduler"]["chunks_dropped"] >= 1, "its queued chunks left the device queue"
    local_server.engines.release(3)  # the chunk already on the device may finish, no other
    local_server.wait_for(lambda h: local_server.engines.generated >= 2)
    assert local_server.engines.generated == 2, "no chunk generated for nobody"
