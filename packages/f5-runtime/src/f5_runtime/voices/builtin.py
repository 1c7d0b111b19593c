"""Built-in voices: the two real recordings f5-tts ships, with their known transcripts, so a
fresh install has a voice to speak with. Read-only: they cannot be replaced or deleted (a
registered voice needs another name)."""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from f5_runtime.voices.store import VoiceInfo


@dataclass(frozen=True)
class Builtin:
    file: str  # under f5_tts/infer/examples/basic/
    text: str  # what the recording says (f5-tts's own examples give these transcripts)
    language: str


BUILTINS: dict[str, Builtin] = {
    "en-default": Builtin("basic_ref_en.wav",
                          "Some call me nature, others call me mother nature.", "en"),
    "zh-default": Builtin("basic_ref_zh.wav", "对，这就是我，万人敬仰的太乙真人。", "zh"),
}


def recording(name: str) -> Path:
    """The built-in voice's recording inside the installed f5-tts package."""
    spec = importlib.util.find_spec("f5_tts")  # a namespace package: no __file__
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the f5-tts package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "infer" / "examples" / "basic" / (
        BUILTINS[name].file)


def builtin_info(name: str) -> VoiceInfo:
    """The voice as listed: its recording's length (it is shorter than the clip limit)."""
    import soundfile as sf

    builtin = BUILTINS[name]
    path = recording(name)
    data = path.read_bytes()
    stamp = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    return VoiceInfo(
        name=name, text=builtin.text, language=builtin.language,
        duration=float(sf.info(path).duration), created=stamp.isoformat(timespec="seconds"),
        source=f"f5-tts: infer/examples/basic/{builtin.file}",
        content_hash=hashlib.sha256(data + builtin.text.encode()).hexdigest(), builtin=True,
    )
