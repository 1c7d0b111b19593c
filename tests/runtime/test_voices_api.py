"""Named voices through RunPod's local API server: register (s3, https, data), list, speak by
name, replace, delete, on a shared volume seen by a second server process, with the real
engines (F5_LOAD_FORMAT=dummy F5_TTS_MODEL=tiny) and a moto bucket on loopback."""

from __future__ import annotations

import base64
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from f5_runtime.config import Settings
from f5_runtime.flow.job import run_job
from f5_runtime.io.storage import Storage
from f5_runtime.voices.library import VoiceLibrary
from fixtures.api_server import start_api_server, stop_api_server

from runtime.conftest import ENGINE_DOUBLE, TESTS_DIR, wav_bytes
from runtime.engine_double import ToneEngines
from runtime.http_origin import Origin, Reply
from runtime.test_voice_store import prepare

JOB_TIMEOUT = 300
REAL_ENGINES = {"F5_LOAD_FORMAT": "dummy", "F5_TTS_MODEL": "tiny", "F5_DEVICE": "cpu",
                "HF_HUB_OFFLINE": "1"}


@pytest.fixture(scope="module")
def volume(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("voices-volume")


@pytest.fixture(scope="module")
def servers(s3_server, volume, tmp_path_factory):
    """Two workers of one endpoint on one volume: the real engines, and the test engine."""
    shared = {**s3_server.env(), "F5_VOLUME": str(volume)}
    first = start_api_server({**shared, **REAL_ENGINES}, tmp_path_factory.mktemp("voices-1"))
    try:
        second = start_api_server({**shared, "F5_ENGINES": ENGINE_DOUBLE,
                                   "PYTHONPATH": str(TESTS_DIR)},
                                  tmp_path_factory.mktemp("voices-2"))
    except BaseException:
        stop_api_server(first)
        raise
    yield first, second
    stop_api_server(second)
    stop_api_server(first)


def done(server, job_input: dict) -> dict:
    response = server.runsync(job_input, timeout=JOB_TIMEOUT)
    assert response.get("status") == "COMPLETED", (response, server.log()[-3000:])
    return response["output"]


def failed(server, job_input: dict) -> str:
    response = server.runsync(job_input, timeout=JOB_TIMEOUT)
    assert response.get("status") == "FAILED", response
    return response["error"]


def voice_files(volume: Path) -> list[str]:
    root = volume / "f5tts" / "voices"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


@pytest.mark.slow  # two API servers, one with the real engines
def test_register_use_replace_delete_across_workers(servers, s3, bucket, volume) -> None:
    first, second = servers
    s3.put(bucket, "refs/alice.wav", wav_bytes(3.0, 24_000))
    alice = done(first, {"voice_action": "register", "voice": "alice",
                         "voice_reference_url": f"s3://{bucket}/refs/alice.wav",
                         "voice_reference_text": "Alice reads a short line.",
                         "language": "en"})["voice"]
    assert alice["name"] == "alice" and alice["builtin"] is False
    assert alice["text"] == "Alice reads a short line." and alice["language"] == "en"
    assert alice["duration"] == pytest.approx(3.0, abs=0.2) and alice["created"]

    data_uri = "data:audio/wav;base64," + base64.b64encode(wav_bytes(2.5)).decode()
    bob = done(first, {"voice_action": "register", "voice": "bob",
                       "voice_reference_url": data_uri,
                       "voice_reference_text": "Bob says hello."})["voice"]
    assert bob["language"] == "en"  # a transcript is taken to be in the default language

    listed = {v["name"]: v for v in done(second, {"voice_action": "list"})["voices"]}
    assert listed["alice"] == alice and listed["bob"] == bob  # the other worker sees them
    assert listed["en-default"]["builtin"] and listed["zh-default"]["builtin"]

    out = done(first, {"text": "Speaking by name.", "voice": "alice",
                       "options": {"nfe_steps": 4, "seed": 1}})
    assert out["kind"] == "synthesize" and out["audio_base64"]
    assert "fetch" not in out["timings"], "a named voice is not fetched"
    assert out["timings"]["reference"] < 1.0
    done(second, {"text": "The other worker too.", "voice": "alice"})
    assert "voice 'alice' loaded from" in second.log()

    taken = failed(first, {"voice_action": "register", "voice": "alice",
                           "voice_reference_url": data_uri})
    assert "already registered" in taken and "overwrite" in taken
    replaced = done(first, {"voice_action": "register", "voice": "alice", "overwrite": True,
                            "voice_reference_url": data_uri,
                            "voice_reference_text": "Alice, second take."})["voice"]
    assert replaced["text"] == "Alice, second take."
    listed = {v["name"]: v for v in done(second, {"voice_action": "list"})["voices"]}
    assert listed["alice"] == replaced
    loads_before = second.log().count("voice 'alice' loaded from")
    done(second, {"text": "After the replacement.", "voice": "alice"})
    assert second.log().count("voice 'alice' loaded from") == loads_before + 1, (
        "the second worker noticed the replacement and loaded the new voice")

    assert done(first, {"voice_action": "delete", "voice": "alice"}) == {"deleted": "alice"}
    gone = failed(second, {"text": "Still there?", "voice": "alice"})
    assert "no voice is named 'alice'" in gone and '"voice_action": "list"' in gone
    assert not any(f.startswith("alice") for f in voice_files(volume))

    both = failed(first, {"text": "Hi.", "voice": "bob", "voice_reference_url": data_uri})
    assert "drop voice_reference_url" in both
    builtin = failed(first, {"voice_action": "delete", "voice": "en-default"})
    assert "built-in" in builtin
    # OpenAI's voice names speak in the default voice (a built-in) unless registered.
    assert done(first, {"text": "An OpenAI voice name.", "voice": "alloy",
                        "options": {"nfe_steps": 4}})["duration"] > 0


@pytest.mark.slow  # two API servers, one with the real engines
def test_bad_names_and_bad_audio_leave_nothing_behind(servers, volume) -> None:
    first, _ = servers
    before = voice_files(volume)
    good = "data:audio/wav;base64," + base64.b64encode(wav_bytes(2.0)).decode()
    not_audio = "data:audio/wav;base64," + base64.b64encode(b"not a wav file" * 50).decode()
    for name in ("../x", "Alice", "", "a" * 65):
        error = failed(first, {"voice_action": "register", "voice": name,
                               "voice_reference_url": good})
        assert error.startswith("input.voice: ") and "is not a voice name" in error
    error = failed(first, {"voice_action": "register", "voice": "noise",
                           "voice_reference_url": not_audio})
    assert "not a readable audio file" in error
    error = failed(first, {"voice_action": "list", "voice": "x"})
    assert error == "input.voice: not used by voice_action 'list' (it takes no other field)"
    assert voice_files(volume) == before
    assert first.alive()


@pytest.mark.slow  # two API servers, one with the real engines
def test_concurrent_registrations_on_two_workers(servers, volume) -> None:
    first, second = servers
    uris = ["data:audio/wav;base64," + base64.b64encode(wav_bytes(s)).decode()
            for s in (2.0, 2.5)]
    jobs = [(server, {"voice_action": "register", "voice": "race",
                      "voice_reference_url": uri, "voice_reference_text": "Race."})
            for server, uri in zip((first, second), uris, strict=True)]
    with ThreadPoolExecutor(2) as pool:
        responses = list(pool.map(lambda job: job[0].runsync(job[1], timeout=JOB_TIMEOUT),
                                  jobs))
    statuses = sorted(r["status"] for r in responses)
    assert statuses == ["COMPLETED", "FAILED"], responses
    assert "already registered" in next(r["error"] for r in responses if "error" in r)
    files = [f for f in voice_files(volume) if f.startswith("race/")]
    assert len(files) == 2 and "race/voice.json" in files  # one audio, one manifest


def test_register_from_https(s3, tmp_path: Path) -> None:
    """https:// registration through the flow's voice action (the test CA trusted in-process:
    a server subprocess would need the CA in certifi's bundle)."""
    origin = Origin(tmp_path, tls=True)
    try:
        url = origin.route("/ref.wav", Reply(body=wav_bytes(3.0),
                                             headers={"Content-Type": "audio/wav"}))
        url += "?X-Amz-Signature=secret"  # as a presigned URL has
        settings = Settings.from_env({**s3.env(), "F5_VOLUME": str(tmp_path / "volume"),
                                      "F5_ALLOW_PRIVATE_URLS": "1"})
        voices = VoiceLibrary.from_settings(settings, prepare=prepare)  # the real preparation
        storage = Storage(settings, ca_bundle=str(origin.ca_file))
        result = run_job({"voice_action": "register", "voice": "carol",
                          "voice_reference_url": url}, "job-https", engines=ToneEngines(),
                         storage=storage, settings=settings, voices=voices)
    finally:
        origin.close()
    assert result.to_json()["voice"]["name"] == "carol"
    info = voices.store.info("carol")
    assert info is not None and "secret" not in info.source  # no signature kept
    assert re.match(r"^https://localhost:\d+/ref\.wav\?<redacted>$", info.source)
    assert voices.get("carol").reference.seconds == pytest.approx(3.0, abs=0.1)
