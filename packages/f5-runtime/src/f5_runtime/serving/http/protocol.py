"""The OpenAI-compatible protocol: request models mirroring OpenAI's field names and ranges,
and OpenAI's error shape. Every rule about what a request may hold is here.

`POST /v1/audio/speech` takes OpenAI's fields (`model`, `input`, `voice`, `response_format`,
`speed`, `stream_format`, `instructions`) and four of ours (`seed`, `nfe_steps`,
`language`, `verify`). Unknown fields are refused (a typo should not pass silently).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from f5_runtime.engines.types import SynthesisOptions, VerifyOptions
from f5_runtime.io.stream_audio import FORMATS

# Accepted `model` names: ours, and OpenAI's (all served by the same F5-TTS model).
MODEL_ID = "f5-tts"
MODEL_ALIASES = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts")
MAX_INPUT_CHARS = 4096  # OpenAI's limit; F5_MAX_TEXT_CHARS applies too (the smaller wins)
_DEFAULTS = SynthesisOptions()
_LANGUAGE = re.compile(r"^[a-z]{2,3}$")


class SpeechRequest(BaseModel):
    """The body of POST /v1/audio/speech."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str
    input: Annotated[str, Field(min_length=1, max_length=MAX_INPUT_CHARS)]
    voice: Annotated[str, Field(min_length=1, max_length=64)]
    response_format: Literal["mp3", "opus", "aac", "flac", "wav", "pcm"] = "mp3"
    # OpenAI's range. F5-TTS plans each chunk's length by it: below ~0.5 words drag and
    # above ~2 they blur (the queue API allows 0.5-2.0 for that reason).
    speed: Annotated[float, Field(ge=0.25, le=4.0)] = 1.0
    stream_format: Literal["audio", "sse"] = "audio"
    instructions: str | None = None  # accepted for compatibility; F5-TTS has no such control
    # our extensions
    seed: Annotated[int | None, Field(ge=0, le=2**32 - 1)] = None
    nfe_steps: Annotated[int, Field(ge=4, le=64)] = _DEFAULTS.nfe_steps
    language: str | None = None
    # per-chunk verification, as the queue API's `options.verify` (its other thresholds default)
    verify: Literal["off", "align", "asr"] = VerifyOptions().mode  # type: ignore[assignment]

    @field_validator("model")
    @classmethod
    def _model(cls, value: str) -> str:
        if value not in (MODEL_ID, *MODEL_ALIASES):
            raise ValueError(f"unknown model {value!r}: use {MODEL_ID!r} (or OpenAI's "
                             f"{', '.join(repr(m) for m in MODEL_ALIASES)}, served by it)")
        return value

    @field_validator("input")
    @classmethod
    def _input(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty: send the text to speak")
        return value.strip()

    @field_validator("language")
    @classmethod
    def _language(cls, value: str | None) -> str | None:
        if value is not None and not _LANGUAGE.match(value.strip().lower()):
            raise ValueError(f"must be an ISO 639-1 code such as 'en', got {value!r}")
        return None if value is None else value.strip().lower()

    def synthesis_options(self) -> SynthesisOptions:
        return SynthesisOptions(nfe_steps=self.nfe_steps, speed=self.speed, seed=self.seed)

    def verify_options(self) -> VerifyOptions:
        return VerifyOptions(mode=self.verify)


assert set(FORMATS) == {"mp3", "opus", "aac", "flac", "wav", "pcm"}  # the Literal above

# HTTP status -> OpenAI's error `type`
ERROR_TYPES = {
    400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
    404: "not_found_error", 409: "invalid_request_error", 411: "invalid_request_error",
    413: "invalid_request_error", 422: "invalid_request_error", 429: "rate_limit_error",
    499: "cancelled", 500: "server_error", 503: "service_unavailable", 504: "timeout_error",
}


def error_body(status: int, message: str, param: str | None = None,
               code: str | None = None) -> dict[str, Any]:
    """OpenAI's error object."""
    return {"error": {"message": message, "type": ERROR_TYPES.get(status, "server_error"),
                      "param": param, "code": code}}
