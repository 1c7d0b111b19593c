"""API v1: voice management jobs (`voice_action`) and the one entry point for any job input.

    {"voice_action": "register", "voice": "alice", "voice_reference_url": "s3://...",
     "voice_reference_text": "optional", "language": "optional", "overwrite": false}
        -> {"voice": {"name", "duration", "language", "text", "created", "builtin"}}
    {"voice_action": "list"}                     -> {"voices": [...]}   (built-ins included)
    {"voice_action": "delete", "voice": "alice"} -> {"deleted": "alice"}

Validation follows the job rules (request.py): strict types, unknown fields refused, the same
URL rules, every problem named with its field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from f5_runtime.api.messages import format_errors
from f5_runtime.api.request import (
    DEFAULT_LANGUAGE,
    STRICT,
    JobRequest,
    Limits,
    check_language,
    check_reference_text,
    check_url,
    check_voice_name,
    parse_request,
)
from f5_runtime.errors import ValidationError

ACTION_FIELDS = {  # the fields each action takes besides voice_action
    "register": {"voice", "voice_reference_url", "voice_reference_text", "language",
                 "overwrite"},
    "list": set(),
    "delete": {"voice"},
}


class VoiceAction(BaseModel):
    """The `input` of a voice management job."""

    model_config = STRICT

    voice_action: Literal["register", "list", "delete"]
    voice: str | None = None
    voice_reference_url: str | None = None
    voice_reference_text: str | None = None
    language: str | None = None  # the recording's language (detected when absent)
    overwrite: bool = False  # replace a registered voice of that name

    @field_validator("voice")
    @classmethod
    def _voice(cls, value: str | None) -> str | None:
        return check_voice_name(value)

    @field_validator("voice_reference_url")
    @classmethod
    def _url(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else check_url(value, info)

    @field_validator("language")
    @classmethod
    def _language(cls, value: str | None) -> str | None:
        return check_language(value)

    @field_validator("voice_reference_text")
    @classmethod
    def _reference_text(cls, value: str | None) -> str | None:
        return check_reference_text(value)

    @model_validator(mode="after")
    def _fields_of_the_action(self) -> VoiceAction:
        allowed = ACTION_FIELDS[self.voice_action]
        for name in sorted(self.model_fields_set - allowed - {"voice_action"}):
            raise PydanticCustomError(
                "voice_action", "{name}: not used by voice_action {action} (it takes "
                "{allowed})", {"name": name, "action": repr(self.voice_action),
                               "allowed": ", ".join(sorted(allowed)) or "no other field"})
        needed = {"register": ("voice", "voice_reference_url"), "delete": ("voice",)}
        for name in needed.get(self.voice_action, ()):
            if getattr(self, name) is None:
                raise PydanticCustomError(
                    "voice_action", "{name}: required by voice_action {action}",
                    {"name": name, "action": repr(self.voice_action)})
        return self

    def reference_language(self) -> str | None:
        """As for a job's reference: the given language; with a transcript and no language,
        the default one (a transcript is taken to be in it); else None (Whisper detects it)."""
        if self.language is not None:
            return self.language
        return DEFAULT_LANGUAGE if self.voice_reference_text is not None else None


@dataclass(frozen=True)
class VoiceActionResult:
    """What a voice action returns: already the JSON of the API (module docstring)."""

    output: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return self.output


def parse_input(raw: Any, limits: Limits | None = None) -> JobRequest | VoiceAction:
    """Any job's `input`: a voice action when it names `voice_action`, else a job."""
    if not (isinstance(raw, dict) and "voice_action" in raw):
        return parse_request(raw, limits)
    try:
        return VoiceAction.model_validate(raw, context={"limits": limits or Limits.default()})
    except pydantic.ValidationError as exc:
        raise ValidationError(format_errors(exc, {"": VoiceAction})) from None
