"""Named voices over HTTP against `f5-runtime serve` (the test engine): upload by multipart,
list, speak with the `openai` client by name, OpenAI's standard names, the errors (404 in
OpenAI's shape, 409, 403), overwrite, delete, and the native API's voice actions."""

from __future__ import annotations

import io
import uuid

import numpy as np
import openai
import pytest
import requests
import soundfile as sf
from f5_runtime.config import Settings
from runtime.engine_double import ToneEngines

from server.conftest import KEYS, start_local

TEXT = "Hello there. This is two."
AUTH = {"Authorization": f"Bearer {KEYS[0]}"}


def wav(seconds: float = 2.0, rate: int = 24_000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    buf = io.BytesIO()
    sf.write(buf, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), rate, format="WAV")
    return buf.getvalue()


@pytest.fixture(scope="module")
def client(http_server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{http_server.url}/v1", api_key=KEYS[1], max_retries=0)


def upload(url: str, name: str, data: bytes | None = None, **fields: str) -> requests.Response:
    return requests.post(f"{url}/v1/audio/voices", headers=AUTH, timeout=60,
                         data={"name": name, **fields},
                         files={"file": ("me.wav", wav() if data is None else data,
                                         "audio/wav")})


def names(url: str) -> dict[str, bool]:
    response = requests.get(f"{url}/v1/audio/voices", headers=AUTH, timeout=30)
    assert response.status_code == 200, response.text
    return {v["name"]: v["builtin"] for v in response.json()["voices"]}


def new_name() -> str:
    return f"v-{uuid.uuid4().hex[:10]}"


def assert_openai_error(response: requests.Response, status: int, param: str) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["param"] == param
    return error


def test_upload_list_speak_overwrite_delete(http_server, client) -> None:
    url, name = http_server.url, new_name()
    listed = names(url)
    assert listed["en-default"] is True and listed["zh-default"] is True, "built-ins marked"

    created = upload(url, name, text="A tone, not a voice.", language="en")
    assert created.status_code == 201, created.text
    voice = created.json()
    assert voice["name"] == name and voice["builtin"] is False
    assert voice["text"] == "A tone, not a voice." and voice["language"] == "en"
    assert voice["duration"] == pytest.approx(2.0, abs=0.01)
    assert names(url)[name] is False

    speech = client.audio.speech.create(model="tts-1", voice=name, input=TEXT,
                                        response_format="wav")
    assert len(speech.content) > 1000

    taken = upload(url, name)
    error = assert_openai_error(taken, 409, "name")
    assert "overwrite" in error["message"]

    replaced = upload(url, name, wav(1.5), overwrite="true", text="Shorter.")
    assert replaced.status_code == 201, replaced.text
    assert replaced.json()["duration"] == pytest.approx(1.5, abs=0.01)

    deleted = requests.delete(f"{url}/v1/audio/voices/{name}", headers=AUTH, timeout=30)
    assert deleted.status_code == 200 and deleted.json() == {"deleted": name}
    assert name not in names(url)
    with pytest.raises(openai.NotFoundError) as gone:
        client.audio.speech.create(model="tts-1", voice=name, input=TEXT)
    assert gone.value.body["param"] == "voice"
    again = requests.delete(f"{url}/v1/audio/voices/{name}", headers=AUTH, timeout=30)
    assert_openai_error(again, 404, "voice")


def test_openai_names_and_built_ins_speak(client) -> None:
    for voice in ("alloy", "marin", "en-default", "zh-default"):
        response = client.audio.speech.create(model="tts-1", voice=voice, input=TEXT,
                                              response_format="pcm")
        assert len(response.content) > 1000, voice


def test_unknown_voice_is_openai_404_saying_how_to_list(http_server, client) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.audio.speech.create(model="tts-1", voice="nobody-here", input=TEXT)
    assert caught.value.status_code == 404
    raw = requests.post(f"{http_server.url}/v1/audio/speech", headers=AUTH, timeout=30,
                        json={"model": "tts-1", "voice": "nobody-here", "input": TEXT})
    error = assert_openai_error(raw, 404, "voice")
    assert error["type"] == "not_found_error" and error["code"] == "voice_not_found"
    assert "GET /v1/audio/voices" in error["message"]


def test_built_ins_are_read_only(http_server) -> None:
    url = http_server.url
    refused = requests.delete(f"{url}/v1/audio/voices/en-default", headers=AUTH, timeout=30)
    assert assert_openai_error(refused, 403, "name")["code"] == "voice_read_only"
    assert_openai_error(upload(url, "zh-default", overwrite="true"), 403, "name")
    assert names(url)["en-default"] is True


def test_bad_uploads_are_refused(http_server) -> None:
    url = http_server.url
    assert_openai_error(upload(url, "Not A Name"), 400, "name")
    assert_openai_error(upload(url, new_name(), b"not audio at all"), 422, None)
    assert_openai_error(upload(url, new_name(), language="english"), 400, "language")
    assert_openai_error(upload(url, new_name(), overwrite="maybe"), 400, "overwrite")
    no_file = requests.post(f"{url}/v1/audio/voices", headers=AUTH, data={"name": "x"},
                            timeout=30)
    assert_openai_error(no_file, 400, "file")
    bad_delete = requests.delete(f"{url}/v1/audio/voices/Bad%20Name", headers=AUTH, timeout=30)
    assert_openai_error(bad_delete, 400, "name")


def test_voices_routes_need_the_key(http_server) -> None:
    url = http_server.url
    assert requests.get(f"{url}/v1/audio/voices", timeout=30).status_code == 401
    refused = requests.post(f"{url}/v1/audio/voices", data={"name": "x"},
                            files={"file": ("a.wav", wav(), "audio/wav")}, timeout=30)
    assert refused.status_code == 401
    assert requests.delete(f"{url}/v1/audio/voices/x", timeout=30).status_code == 401


def test_native_api_uses_the_same_library(http_server) -> None:
    url, name = http_server.url, new_name()
    assert upload(url, name, text="A tone.").status_code == 201

    def runsync(job_input: dict) -> dict:
        response = requests.post(f"{url}/runsync", headers=AUTH, json={"input": job_input},
                                 timeout=120)
        assert response.status_code == 200, response.text
        return response.json()

    listed = runsync({"voice_action": "list"})
    assert listed["status"] == "COMPLETED", listed
    listed_names = {v["name"]: v["builtin"] for v in listed["output"]["voices"]}
    assert listed_names[name] is False and listed_names["en-default"] is True

    spoken = runsync({"text": TEXT, "voice": name})
    assert spoken["status"] == "COMPLETED", spoken

    assert runsync({"voice_action": "delete", "voice": name})["output"] == {"deleted": name}
    assert name not in names(url), "deleted through the job: gone for the HTTP routes too"
    unknown = runsync({"text": TEXT, "voice": name})
    assert unknown["status"] == "FAILED" and name in unknown["error"]


def test_upload_over_the_audio_size_limit_is_413(tmp_path) -> None:
    settings = Settings.from_env({"F5_MAX_AUDIO_MB": "1", "F5_TMP_DIR": str(tmp_path / "jobs"),
                                  "F5_VOICES_DIR": str(tmp_path / "voices"),
                                  "F5_LOCKS_DIR": str(tmp_path / "locks")})
    local, thread = start_local(settings, ToneEngines())
    try:
        big = requests.post(f"{local.url}/v1/audio/voices", data={"name": "big"}, timeout=60,
                            files={"file": ("big.wav", b"\0" * (2 << 20), "audio/wav")})
        assert_openai_error(big, 413, "file")
        assert "F5_MAX_AUDIO_MB" in big.json()["error"]["message"]
        assert upload(local.url, "small").status_code == 201
    finally:
        local.server.should_exit = True
        thread.join(timeout=30)


def test_default_voice_is_the_built_in_of_the_language(tmp_path) -> None:
    settings = Settings.from_env({"F5_TMP_DIR": str(tmp_path), "F5_LANGUAGES": "en,zh",
                                  "F5_VOICES_DIR": str(tmp_path / "voices"),
                                  "F5_LOCKS_DIR": str(tmp_path / "locks")})
    engines = ToneEngines()
    local, thread = start_local(settings, engines)
    try:
        client = openai.OpenAI(base_url=f"{local.url}/v1", api_key="none", max_retries=0)
        for language in ("en", "zh"):
            before = len(engines.reference_languages)
            speech = client.audio.speech.create(model="tts-1", voice="default", input=TEXT,
                                                response_format="pcm",
                                                extra_body={"language": language})
            assert len(speech.content) > 1000
            # the built-in of that language was prepared for it (each once: then cached)
            assert engines.reference_languages[before:] == [language]
    finally:
        local.server.should_exit = True
        thread.join(timeout=30)
