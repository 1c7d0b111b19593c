"""Which recording a `voice` name stands for.

Until the named-voice library is merged, every name resolves to the built-in reference the
f5-tts package ships (a man saying "Some call me nature, others call me mother nature."):
OpenAI's standard names (alloy, echo, ...) and "default" included, so OpenAI clients work
unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files

BUILTIN_NAME = "default"
BUILTIN_TEXT = "Some call me nature, others call me mother nature."
BUILTIN_FILE = "infer/examples/basic/basic_ref_en.wav"
OPENAI_VOICES = ("alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage",
                 "shimmer", "verse", "marin", "cedar")


@dataclass(frozen=True)
class VoiceSource:
    key: str  # what the prepared reference is cached under
    audio: bytes  # the recording, any audio format
    text: str | None  # its transcript (None: transcribed)
    language: str | None


def resolve(name: str) -> VoiceSource:
    """The recording for `name` (every name is the built-in voice for now)."""
    data = files("f5_tts").joinpath(BUILTIN_FILE).read_bytes()
    return VoiceSource(BUILTIN_NAME, data, BUILTIN_TEXT, "en")


def listing() -> list[dict[str, str]]:
    return [{"voice_id": BUILTIN_NAME, "name": BUILTIN_NAME, "language": "en"}] + [
        {"voice_id": n, "name": n, "language": "en", "alias_of": BUILTIN_NAME}
        for n in OPENAI_VOICES]
