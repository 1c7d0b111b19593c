"""API v1: the request a job sends. All validation lives here.

Two kinds of job, chosen by the fields present:
- synthesize: `text` + `voice_reference_url` (a recording to clone) or `voice` (a registered
  voice's name); with `audio_url` too, the speech is fitted to that source recording's
  duration (dubbing). The original design's example is this case.
- subtitle: `audio_url` without `voice_reference_url`; the recording is force-aligned to
  `text`, or transcribed when `text` is absent.

`parse_request(raw, limits)` turns any JSON value into a `JobRequest` or raises
`ValidationError` with one readable message per problem, each naming the field and what would
be valid ("input.options.nfe_steps: must be between 4 and 64, got 500").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from f5_runtime.api.messages import format_errors
from f5_runtime.engines.normalize import LANGUAGES as NORMALIZED_LANGUAGES
from f5_runtime.engines.types import SynthesisOptions, VerifyOptions
from f5_runtime.errors import ValidationError
from f5_runtime.io.subtitles import SubtitleOptions
from f5_runtime.io.urls import is_local, url_scheme
from f5_runtime.voices.names import name_problem

if TYPE_CHECKING:
    from f5_runtime.config import Settings

DEFAULT_LANGUAGE = "en"  # synthesis and alignment when the request names none
URL_SCHEMES = ("s3", "https", "http", "data")
MAX_REFERENCE_TEXT_CHARS = 2000  # a reference clip is ~12 s; its transcript is short
DATA_URI_SHAPE = "data:audio/<type>;base64,<payload>"  # in the error for a malformed one


@dataclass(frozen=True)
class Limits:
    """Request limits and what the caller may use (the CLI allows local files). The values
    come from Settings (F5_MAX_*, F5_ALLOW_HTTP), where their defaults are."""

    max_text_chars: int
    max_audio_bytes: int  # per input, checked while downloading
    max_audio_seconds: float  # per input, from the header, and while decoding
    allow_http: bool  # plain http:// inputs
    allow_local_files: bool = False  # local paths and file:// (CLI only, never the endpoint)

    @classmethod
    def default(cls) -> Limits:
        """The limits of an endpoint configured with the defaults."""
        from f5_runtime.config import Settings

        return cls.from_settings(Settings.from_env({}))

    @classmethod
    def from_settings(cls, settings: Settings, *, allow_local_files: bool = False) -> Limits:
        return cls(
            max_text_chars=settings.max_text_chars,
            max_audio_bytes=settings.max_audio_bytes,
            max_audio_seconds=settings.max_audio_seconds,
            allow_http=settings.allow_http,
            allow_local_files=allow_local_files,
        )


STRICT = ConfigDict(extra="forbid", strict=True, frozen=True)
_LANGUAGE = re.compile(r"^[a-z]{2,3}$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")


_SYNTH = SynthesisOptions()  # the defaults live in the dataclasses the engines and the
_SUBS = SubtitleOptions()  # subtitle renderer take; the API adds the allowed ranges
_VERIFY = VerifyOptions()


class Verification(BaseModel):
    """Thresholds of per-chunk verification (docs/api.md explains each default)."""

    model_config = STRICT

    budget_seconds: Annotated[float, Field(ge=0.0, le=600.0)] = _VERIFY.budget_seconds
    min_word_score: Annotated[float, Field(ge=0.0, le=1.0)] = _VERIFY.min_word_score
    max_unplaced: Annotated[float, Field(ge=0.0, le=1.0)] = _VERIFY.max_unplaced
    max_gap_seconds: Annotated[float, Field(ge=0.1, le=30.0)] = _VERIFY.max_gap_seconds
    max_trailing_seconds: Annotated[float, Field(ge=0.1, le=30.0)] = _VERIFY.max_trailing_seconds
    min_rate: Annotated[float, Field(ge=0.0, le=1.0)] = _VERIFY.min_rate
    max_wer: Annotated[float, Field(ge=0.0, le=1.0)] = _VERIFY.max_wer


class Options(BaseModel):
    """Synthesis, subtitle and output options; every field optional."""

    model_config = STRICT

    # subtitles
    create_subtitles: bool = True
    subtitle_format: Literal["ass", "srt", "vtt"] = _SUBS.format  # type: ignore[assignment]
    karaoke: bool = _SUBS.karaoke  # ASS \kf word highlighting (VTT: per-word timestamp tags)
    max_line_chars: Annotated[int, Field(ge=16, le=80)] = _SUBS.max_line_chars
    max_lines: Annotated[int, Field(ge=1, le=3)] = _SUBS.max_lines
    max_event_seconds: Annotated[float, Field(ge=1.0, le=15.0)] = _SUBS.max_event_seconds
    # synthesis (ignored by subtitle jobs)
    nfe_steps: Annotated[int, Field(ge=4, le=64)] = _SYNTH.nfe_steps
    cfg_strength: Annotated[float, Field(ge=0.0, le=10.0)] = _SYNTH.cfg_strength
    sway_sampling_coef: Annotated[float, Field(ge=-1.0, le=1.0)] = _SYNTH.sway_sampling_coef
    speed: Annotated[float, Field(ge=0.5, le=2.0)] = _SYNTH.speed
    seed: Annotated[int | None, Field(ge=0, le=2**32 - 1)] = _SYNTH.seed
    output_format: Literal["wav", "flac", "ogg", "mp3"] = "wav"
    # text normalisation and verification (synthesis)
    normalize: bool | None = None  # None: on for the languages normalize.py knows
    verify: Literal["off", "align", "asr"] = _VERIFY.mode  # type: ignore[assignment]
    max_attempts: Annotated[int, Field(ge=1, le=8)] = _VERIFY.max_attempts
    verification: Verification = Field(default_factory=Verification)


class OutputTarget(BaseModel):
    """Where outputs go: s3://<bucket>/<prefix><job-id>/..."""

    model_config = STRICT

    bucket: str
    prefix: str = ""

    @field_validator("bucket")
    @classmethod
    def _bucket_name(cls, value: str) -> str:
        if not _BUCKET.match(value) or ".." in value:
            raise PydanticCustomError(
                "bucket_name",
                "must be an S3 bucket name (3-63 characters: a-z, 0-9, '.', '-'), got {value}",
                {"value": repr(value)},
            )
        return value

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        value = value.strip()
        if value.startswith("/") or ".." in value.split("/") or len(value) > 512:
            raise PydanticCustomError(
                "prefix",
                "must be a relative key prefix such as 'jobs/' (no leading '/', no '..')",
            )
        if value and not value.endswith("/"):
            value += "/"
        return value


def check_url(value: str, info: ValidationInfo) -> str:
    limits: Limits = (info.context or {})["limits"]
    value = value.strip()
    scheme = url_scheme(value)
    if limits.allow_local_files and is_local(scheme):
        return value  # a local path (or C:\...) from the CLI
    if scheme in URL_SCHEMES:  # schemes are case-insensitive: HTTPS:// is https://
        value = scheme + value[len(scheme):]
    if scheme not in URL_SCHEMES:
        if scheme == "file" or value.startswith(("/", ".", "~")):
            raise PydanticCustomError(
                "url_scheme", "local files are not accessible to the endpoint: upload the file "
                "to S3 and send s3://bucket/key, a presigned https:// URL or a data: URI",
            )
        raise PydanticCustomError(
            "url_scheme",
            "must be an s3://bucket/key, https:// or data:audio/...;base64, URL, got {value}",
            {"value": repr(value[:80])},
        )
    if scheme == "http" and not limits.allow_http:
        raise PydanticCustomError(
            "url_scheme", "plain http:// is not accepted: use https:// (or set F5_ALLOW_HTTP=1 "
            "on a private deployment)",
        )
    if scheme == "s3" and not re.match(r"^s3://[^/]+/.+", value):
        raise PydanticCustomError(
            "url_s3", "must be s3://bucket/key (both the bucket and the key), got {value}",
            {"value": repr(value[:80])},
        )
    if scheme == "data" and not re.match(r"^data:audio/[\w.+-]+(;[^,;]*)*;base64,", value, re.I):
        raise PydanticCustomError(
            "url_data", "a data: URI must look like " + DATA_URI_SHAPE
        )
    if scheme in ("http", "https") and not re.match(r"^https?://[^/?#\s]+", value):
        raise PydanticCustomError("url_host", "the URL has no host")
    return value


def check_language(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip().lower()
    if not _LANGUAGE.match(value):
        raise PydanticCustomError(
            "language", "must be an ISO 639-1 code such as 'en', 'de' or 'zh', got {value}",
            {"value": repr(value[:20])},
        )
    return value


def check_reference_text(value: str | None) -> str | None:
    if value is not None and len(value) > MAX_REFERENCE_TEXT_CHARS:
        raise PydanticCustomError(
            "too_long", "must be at most {limit} characters (the transcript of a short "
            "reference clip), got {n}", {"limit": MAX_REFERENCE_TEXT_CHARS, "n": len(value)},
        )
    return None if value is None else (value.strip() or None)


def check_voice_name(value: str | None) -> str | None:
    problem = None if value is None else name_problem(value)
    if problem is not None:
        raise PydanticCustomError("voice_name", problem)
    return value


class JobRequest(BaseModel):
    """The `input` of a RunPod job."""

    model_config = STRICT

    text: str | None = None
    voice: str | None = None  # a registered (or built-in) voice's name
    voice_reference_url: str | None = None
    voice_reference_text: str | None = None
    voice_reference_language: str | None = None
    audio_url: str | None = None
    language: str | None = None
    options: Options = Field(default_factory=Options)
    output: OutputTarget | None = None
    # Send the speech chunk by chunk as it is made (RunPod /stream, the HTTP server's /stream),
    # then the result: see docs/api.md, "Streaming".
    stream: bool = False

    @field_validator("voice_reference_url", "audio_url")
    @classmethod
    def _urls(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else check_url(value, info)

    @field_validator("language", "voice_reference_language")
    @classmethod
    def _language(cls, value: str | None) -> str | None:
        return check_language(value)

    @field_validator("voice_reference_text")
    @classmethod
    def _reference_text(cls, value: str | None) -> str | None:
        return check_reference_text(value)

    @field_validator("voice")
    @classmethod
    def _voice(cls, value: str | None) -> str | None:
        return check_voice_name(value)

    @field_validator("text")
    @classmethod
    def _text(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        limits: Limits = (info.context or {})["limits"]
        if not value.strip():
            raise PydanticCustomError("empty", "must not be empty: send the text to speak")
        if len(value) > limits.max_text_chars:
            raise PydanticCustomError(
                "too_long", "must be at most {limit} characters, got {n}: split the text into "
                "several jobs", {"limit": limits.max_text_chars, "n": len(value)},
            )
        return value.strip()

    @model_validator(mode="after")
    def _job_kind(self) -> JobRequest:
        if self.voice is not None and self.voice_reference_url is not None:
            raise PydanticCustomError(
                "job_kind", "voice and voice_reference_url: send one of them: drop "
                "voice_reference_url (and voice_reference_text) to speak in the registered "
                "voice {voice}, or drop voice to clone the recording",
                {"voice": repr(self.voice)},
            )
        if self.kind == "synthesize" and self.text is None:
            raise PydanticCustomError(
                "missing_text", "text: required to synthesize speech (the text to speak in the "
                "voice of {field})", {"field": "voice" if self.voice else "voice_reference_url"},
            )
        if self.kind == "subtitle" and self.audio_url is None:
            raise PydanticCustomError(
                "job_kind", "nothing to do: send text + voice_reference_url (a recording to "
                "clone) or text + voice (a registered voice's name, such as en-default) to "
                "synthesize speech, or audio_url (with optional text) to subtitle a recording",
            )
        for name in ("voice_reference_text", "voice_reference_language"):
            if self.voice_reference_url is None and getattr(self, name) is not None:
                extra = " (a registered voice has its own)" if self.voice else ""
                raise PydanticCustomError(
                    "job_kind", "{name}: only valid with voice_reference_url{extra}",
                    {"name": name, "extra": extra},
                )
        return self

    @property
    def kind(self) -> Literal["synthesize", "subtitle"]:
        named = self.voice is not None or self.voice_reference_url is not None
        return "synthesize" if named else "subtitle"

    @property
    def is_dubbing(self) -> bool:
        return self.kind == "synthesize" and self.audio_url is not None

    def input_urls(self) -> list[str]:
        return [u for u in (self.voice_reference_url, self.audio_url) if u is not None]

    def reference_language(self) -> str | None:
        """The voice reference's language: `voice_reference_language`; else, with a given
        transcript, the text's (a transcript is taken to be in `language`); else None: Whisper
        detects it while transcribing the reference."""
        if self.voice_reference_language is not None:
            return self.voice_reference_language
        if self.voice_reference_text is not None:
            return self.language or DEFAULT_LANGUAGE
        return None

    def output_bucket(self) -> tuple[str, str] | None:
        """(bucket, prefix) the request asks its outputs to go to, if it names one."""
        return None if self.output is None else (self.output.bucket, self.output.prefix)

    def synthesis_options(self, target_duration: float | None) -> SynthesisOptions:
        o = self.options
        language = self.language or DEFAULT_LANGUAGE
        normalize = language in NORMALIZED_LANGUAGES if o.normalize is None else o.normalize
        return SynthesisOptions(nfe_steps=o.nfe_steps, cfg_strength=o.cfg_strength,
                                sway_sampling_coef=o.sway_sampling_coef, speed=o.speed,
                                seed=o.seed, target_duration=target_duration,
                                normalize=language if normalize else None)

    def verify_options(self) -> VerifyOptions:
        o = self.options
        return VerifyOptions(mode=o.verify, max_attempts=o.max_attempts,
                             **o.verification.model_dump())

    def subtitle_options(self) -> SubtitleOptions:
        o = self.options
        return SubtitleOptions(format=o.subtitle_format, karaoke=o.karaoke,
                               max_line_chars=o.max_line_chars, max_lines=o.max_lines,
                               max_event_seconds=o.max_event_seconds)


def check_languages_served(request: JobRequest, served: tuple[str, ...]) -> None:
    """The languages this job needs an aligner for are among F5_LANGUAGES (`served`: fetched
    and loaded at start): otherwise the job would fail only after sampling. A transcription's
    language is only Whisper's hint (any of Whisper's languages; untimed words are spread by
    length)."""
    needed = {"language": request.language or DEFAULT_LANGUAGE}
    if request.kind == "subtitle" and request.text is None:
        needed = {}
    if request.voice_reference_language is not None:
        needed["voice_reference_language"] = request.voice_reference_language
    for field_name, language in needed.items():
        if language not in served:
            raise ValidationError(
                f"input.{field_name}: {language!r} is not served by this endpoint (it serves "
                f"{', '.join(served)}): send one of those, or ask its operator to add it to "
                "F5_LANGUAGES and fetch its models"
            )


# where each model sits in a request, for the error messages (api.messages)
MODELS_AT: dict[str, type[BaseModel]] = {"": JobRequest, "options": Options, "output": OutputTarget,
                                         "options.verification": Verification}


def parse_request(raw: Any, limits: Limits | None = None) -> JobRequest:
    """Validate a job's `input`; ValidationError with a readable message when it is wrong."""
    if not isinstance(raw, dict):
        raise ValidationError(f"input: must be a JSON object, got {type(raw).__name__}")
    try:
        return JobRequest.model_validate(raw, context={"limits": limits or Limits.default()})
    except pydantic.ValidationError as exc:
        raise ValidationError(format_errors(exc, MODELS_AT)) from None
