"""The voice library on each store: the volume (`<root>/voices/`, with its per-name lease) and
S3 (moto on loopback, F5_VOICES_URL), the same tests for both. Preparation is the engines' own
(engines.reference.prepare_reference: trim, clip at a pause, transcript), with the test
engine's aligner standing in for WhisperX."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from f5_runtime.config import Settings
from f5_runtime.engines.reference import prepare_reference
from f5_runtime.engines.types import Audio
from f5_runtime.errors import InputError, UnknownVoiceError, ValidationError, VoiceExistsError
from f5_runtime.voices.library import VoiceLibrary, content_hash
from f5_runtime.voices.names import OPENAI_VOICES

from runtime.engine_double import TRANSCRIPT, ToneEngines

RATE = 24_000


def speech(seconds: float, pitch: float = 220.0, rate: int = RATE) -> Audio:
    """A voice-like test signal: tone bursts with short pauses between them."""
    t = np.arange(int(seconds * rate), dtype=np.float32) / rate
    bursts = (np.sin(2 * np.pi * 2.0 * t) > -0.6).astype(np.float32)
    return Audio((0.3 * np.sin(2 * np.pi * pitch * t) * bursts).astype(np.float32), rate)


def prepare(audio, text, language):
    return prepare_reference(audio, text, language, ToneEngines())


@pytest.fixture(params=["volume", "s3"])
def store_env(request, s3, tmp_path: Path) -> dict[str, str]:
    env = {**s3.env(), "F5_VOLUME": str(tmp_path / "volume"), "F5_STORAGE_ATTEMPTS": "2"}
    if request.param == "s3":
        s3.client.create_bucket(Bucket="voices-bucket")
        env["F5_VOICES_URL"] = "s3://voices-bucket/team/voices/"
    return env


def open_library(env: dict[str, str], **extra: str) -> VoiceLibrary:
    """One worker's library (its own memory cache), on the shared store."""
    return VoiceLibrary.from_settings(Settings.from_env({**env, **extra}), prepare=prepare)


def stored_objects(env: dict[str, str], s3) -> list[str]:
    """Everything in the store, whichever it is (temp files included)."""
    if "F5_VOICES_URL" in env:
        return s3.keys("voices-bucket")
    root = Path(env["F5_VOLUME"]) / "f5tts" / "voices"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


def test_register_list_get_delete(store_env) -> None:
    library = open_library(store_env)
    info = library.register("alice", speech(3.0), "A short test clip.", "en", source="x.wav")
    assert (info.name, info.text, info.language, info.builtin) == (
        "alice", "A short test clip.", "en", False)
    listed = {v.name: v for v in library.list()}
    assert listed["alice"].to_json() == info.to_json()
    assert listed["en-default"].builtin and listed["zh-default"].builtin

    other = open_library(store_env)  # another worker: reads it from the store
    voice = other.get("alice")
    assert voice.reference.text == "A short test clip."
    assert voice.reference.samples.dtype == np.float32
    assert voice.info.duration == pytest.approx(len(voice.reference.samples) / RATE)
    assert content_hash(voice.reference, "en") == info.content_hash  # exactly as prepared

    library.delete("alice")
    with pytest.raises(UnknownVoiceError, match="voice_action"):
        other.get("alice")  # the other worker notices the deletion
    with pytest.raises(UnknownVoiceError):
        library.delete("alice")


def test_recognised_transcript_and_clipping(store_env) -> None:
    library = open_library(store_env)
    info = library.register("long", speech(20.0), None, None)
    assert info.text == TRANSCRIPT and info.transcribed  # recognised once, at registration
    assert info.language == "en"  # what the recogniser detected
    assert info.clipped and info.duration <= 12.0 and info.source_seconds == pytest.approx(20)


def test_overwrite_and_a_second_worker_notices_the_replacement(store_env) -> None:
    first = open_library(store_env)
    second = open_library(store_env)
    first.register("bob", speech(3.0, 200.0), "First take.", "en")
    before = second.get("bob")  # now in the second worker's memory
    with pytest.raises(VoiceExistsError, match="overwrite"):
        first.register("bob", speech(4.0, 300.0), "Second take.", "en")
    assert second.get("bob") is before  # unchanged: served from memory
    first.register("bob", speech(4.0, 300.0), "Second take.", "en", overwrite=True)
    after = second.get("bob")
    assert after.reference.text == "Second take."
    assert after.info.content_hash != before.info.content_hash
    assert len(after.reference.samples) > len(before.reference.samples)


def test_bad_names_and_bad_audio_leave_nothing(store_env, s3) -> None:
    library = open_library(store_env)
    for name in ("../x", "", "Alice", "a" * 65, "-x", "a/b", "a b"):
        with pytest.raises(ValidationError, match="not a voice name"):
            library.register(name, speech(3.0), "Text.", "en")
    silent = Audio(np.zeros(3 * RATE, dtype=np.float32), RATE)
    with pytest.raises(InputError, match="silent"):
        library.register("quiet", silent, "Text.", "en")
    with pytest.raises(InputError, match="at least"):
        library.register("short", speech(0.4), "Text.", "en")
    assert [v.name for v in library.list()] == ["en-default", "zh-default"]
    assert stored_objects(store_env, s3) == []


def test_builtins_are_read_only(store_env) -> None:
    library = open_library(store_env)
    for action in (lambda: library.register("en-default", speech(3.0), "Text.", "en"),
                   lambda: library.delete("zh-default")):
        with pytest.raises(ValidationError, match="built-in"):
            action()
    voice = library.get("en-default")
    assert voice.reference.text == "Some call me nature, others call me mother nature."
    assert voice.info.builtin and 4.0 < voice.reference.seconds < 6.0


def test_resolve_maps_openai_names_and_none_to_the_default(store_env) -> None:
    library = open_library(store_env, F5_DEFAULT_VOICE="carol")
    with pytest.raises(UnknownVoiceError, match="F5_DEFAULT_VOICE"):
        library.resolve(None)  # the default is not registered yet
    library.register("carol", speech(3.0), "Carol speaks.", "en")
    assert library.resolve(None).info.name == "carol"
    assert {library.resolve(name).info.name for name in OPENAI_VOICES} == {"carol"}
    library.register("alloy", speech(3.0, 330.0), "A registered alloy.", "en")
    assert library.resolve("alloy").info.name == "alloy"  # registered beats the mapping
    with pytest.raises(UnknownVoiceError, match="voices list"):
        library.resolve("nobody")
    with pytest.raises(ValidationError, match="not a voice name"):
        library.resolve("Nobody")


def test_default_means_the_built_in_of_the_request_language(store_env) -> None:
    library = open_library(store_env)
    for name in ("default", "alloy", None):
        assert library.resolve(name).info.name == "en-default"
        assert library.resolve(name, "en").info.name == "en-default"
        assert library.resolve(name, "zh").info.name == "zh-default"
        assert library.resolve(name, "fr").info.name == "en-default", "no built-in for fr"
    own = open_library(store_env, F5_DEFAULT_VOICE="carol")
    own.register("carol", speech(3.0), "Carol speaks.", "en")
    assert own.resolve("default", "zh").info.name == "carol", "the operator's default rules"
    own.register("default", speech(3.0, 330.0), "A voice named default.", "en")
    assert own.resolve("default", "zh").info.name == "default", "registered beats the mapping"


def test_two_concurrent_registrations_leave_one_complete_voice(store_env, s3) -> None:
    libraries = [open_library(store_env) for _ in range(4)]
    start = threading.Barrier(len(libraries))

    def register(i: int):
        start.wait()
        try:
            return libraries[i].register("race", speech(3.0, 200.0 + 50 * i), f"Take {i}.", "en")
        except VoiceExistsError:
            return None

    with ThreadPoolExecutor(len(libraries)) as pool:
        results = list(pool.map(register, range(len(libraries))))
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    voice = open_library(store_env).get("race")
    assert voice.info.content_hash == winners[0].content_hash
    assert content_hash(voice.reference, "en") == voice.info.content_hash
    objects = [o.rsplit("/", 1)[-1] for o in stored_objects(store_env, s3) if "race/" in o]
    assert sorted(objects) == sorted(["voice.json", voice.info.audio])  # no loser's leftovers


def test_readers_never_see_half_a_voice(store_env) -> None:
    writer = open_library(store_env)
    writer.register("busy", speech(3.0), "Take 0.", "en")
    done = threading.Event()
    seen: list[str] = []
    problems: list[str] = []

    def read() -> None:
        reader = open_library(store_env)
        while not done.is_set():
            voice = reader.get("busy")  # UnknownVoiceError here would fail the test
            if content_hash(voice.reference, "en") != voice.info.content_hash:
                problems.append(voice.info.text)
            seen.append(voice.reference.text)

    errors: list[BaseException] = []

    def guarded() -> None:
        try:
            read()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=guarded) for _ in range(2)]
    for t in threads:
        t.start()
    for i in range(1, 7):
        writer.register("busy", speech(2.0 + i * 0.5, 200.0 + 20 * i), f"Take {i}.", "en",
                        overwrite=True)
    done.set()
    for t in threads:
        t.join()
    assert errors == [] and problems == []
    assert len(set(seen)) > 1, "the readers saw the voice change"
