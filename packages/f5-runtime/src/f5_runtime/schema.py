"""API v1: the request a job sends and the result it gets back. All validation lives here.

Two kinds of job, chosen by the fields present:
- synthesize: `text` + `voice_reference_url`; with `audio_url` too, the speech is fitted to
  that source recording's duration (dubbing). The original design's example is this case.
- subtitle: `audio_url` without `voice_reference_url`; the recording is force-aligned to
  `text`, or transcribed when `text` is absent.

`parse_request(raw, limits)` turns any JSON value into a `JobRequest` or raises
`ValidationError` with one readable message per problem, each naming the field and what would
be valid ("input.options.nfe_steps: must be between 4 and 64, got 500").
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from f5_runtime.errors import ValidationError
from f5_runtime.storage import is_local, url_scheme

if TYPE_CHECKING:
    from f5_runtime.config import Settings

URL_SCHEMES = ("s3", "https", "http", "data")
MAX_REFERENCE_TEXT_CHARS = 2000  # a reference clip is ~12 s; its transcript is short
DATA_URI_SHAPE = "data:audio/<type>;base64,<payload>"  # in the error for a malformed one


@dataclass(frozen=True)
class Limits:
    """Request limits (from Settings) and what the caller may use (the CLI allows local files)."""

    max_text_chars: int = 5000
    max_audio_bytes: int = 50 * 1024 * 1024  # per input, checked while downloading
    max_audio_seconds: float = 600.0  # per input, from the header, and while decoding
    allow_http: bool = False  # plain http:// inputs
    allow_local_files: bool = False  # local paths and file:// (CLI only, never the endpoint)

    @classmethod
    def from_settings(cls, settings: Settings, *, allow_local_files: bool = False) -> Limits:
        return cls(
            max_text_chars=settings.max_text_chars,
            max_audio_bytes=settings.max_audio_bytes,
            max_audio_seconds=settings.max_audio_seconds,
            allow_http=settings.allow_http,
            allow_local_files=allow_local_files,
        )


_STRICT = ConfigDict(extra="forbid", strict=True, frozen=True)
_LANGUAGE = re.compile(r"^[a-z]{2,3}$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")


class Options(BaseModel):
    """Synthesis, subtitle and output options; every field optional."""

    model_config = _STRICT

    # subtitles
    create_subtitles: bool = True
    subtitle_format: Literal["ass", "srt", "vtt"] = "ass"
    karaoke: bool = True  # ASS \kf word highlighting (VTT: per-word timestamp tags)
    max_line_chars: Annotated[int, Field(ge=16, le=80)] = 42
    max_lines: Annotated[int, Field(ge=1, le=3)] = 2
    max_event_seconds: Annotated[float, Field(ge=1.0, le=15.0)] = 7.0
    # synthesis (ignored by subtitle jobs)
    nfe_steps: Annotated[int, Field(ge=4, le=64)] = 32
    cfg_strength: Annotated[float, Field(ge=0.0, le=10.0)] = 2.0
    sway_sampling_coef: Annotated[float, Field(ge=-1.0, le=1.0)] = -1.0
    speed: Annotated[float, Field(ge=0.5, le=2.0)] = 1.0
    seed: Annotated[int | None, Field(ge=0, le=2**32 - 1)] = None
    output_format: Literal["wav", "flac", "ogg", "mp3"] = "wav"


class OutputTarget(BaseModel):
    """Where outputs go: s3://<bucket>/<prefix><job-id>/..."""

    model_config = _STRICT

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


def _check_url(value: str, info: ValidationInfo) -> str:
    limits: Limits = (info.context or {}).get("limits", Limits())
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


class JobRequest(BaseModel):
    """The `input` of a RunPod job."""

    model_config = _STRICT

    text: str | None = None
    voice_reference_url: str | None = None
    voice_reference_text: str | None = None
    voice_reference_language: str | None = None
    audio_url: str | None = None
    language: str | None = None
    options: Options = Field(default_factory=Options)
    output: OutputTarget | None = None

    @field_validator("voice_reference_url", "audio_url")
    @classmethod
    def _urls(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else _check_url(value, info)

    @field_validator("language", "voice_reference_language")
    @classmethod
    def _language(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().lower()
        if not _LANGUAGE.match(value):
            raise PydanticCustomError(
                "language", "must be an ISO 639-1 code such as 'en', 'de' or 'zh', got {value}",
                {"value": repr(value[:20])},
            )
        return value

    @field_validator("voice_reference_text")
    @classmethod
    def _reference_text(cls, value: str | None) -> str | None:
        if value is not None and len(value) > MAX_REFERENCE_TEXT_CHARS:
            raise PydanticCustomError(
                "too_long", "must be at most {limit} characters (the transcript of a short "
                "reference clip), got {n}", {"limit": MAX_REFERENCE_TEXT_CHARS, "n": len(value)},
            )
        return None if value is None else (value.strip() or None)

    @field_validator("text")
    @classmethod
    def _text(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        limits: Limits = (info.context or {}).get("limits", Limits())
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
        if self.voice_reference_url is not None and self.text is None:
            raise PydanticCustomError(
                "missing_text", "text: required to synthesize speech (the text to speak in the "
                "voice of voice_reference_url)",
            )
        if self.voice_reference_url is None and self.audio_url is None:
            raise PydanticCustomError(
                "job_kind", "nothing to do: send text + voice_reference_url to synthesize speech, "
                "or audio_url (with optional text) to subtitle a recording",
            )
        for name in ("voice_reference_text", "voice_reference_language"):
            if self.voice_reference_url is None and getattr(self, name) is not None:
                raise PydanticCustomError(
                    "job_kind", "{name}: only valid with voice_reference_url", {"name": name},
                )
        return self

    @property
    def kind(self) -> Literal["synthesize", "subtitle"]:
        return "synthesize" if self.voice_reference_url is not None else "subtitle"

    @property
    def is_dubbing(self) -> bool:
        return self.kind == "synthesize" and self.audio_url is not None

    def input_urls(self) -> list[str]:
        return [u for u in (self.voice_reference_url, self.audio_url) if u is not None]


# ---------------------------------------------------------------------------------------------
# Turning pydantic's errors into one readable message


_MODELS_AT: dict[str, type[BaseModel]] = {
    "": JobRequest, "options": Options, "output": OutputTarget,
}

_TYPE_NAMES = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "model_type": "a JSON object",
    "model_attributes_type": "a JSON object",
    "dict_type": "a JSON object",
}


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _field_info(loc: tuple) -> pydantic.fields.FieldInfo | None:
    model = _MODELS_AT.get(".".join(str(p) for p in loc[:-1]))
    return model.model_fields.get(str(loc[-1])) if model else None


def _bounds(loc: tuple) -> tuple[Any, Any]:
    info = _field_info(loc)
    low = high = None
    for meta in info.metadata if info else ():
        low = getattr(meta, "ge", None) if getattr(meta, "ge", None) is not None else low
        high = getattr(meta, "le", None) if getattr(meta, "le", None) is not None else high
    return low, high


def _describe(error: dict) -> str:
    kind, loc, value = error["type"], tuple(error["loc"]), error.get("input")
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        model = _MODELS_AT.get(".".join(str(p) for p in loc[:-1]))
        known = list(model.model_fields) if model else []
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else f"; known fields: {', '.join(known)}"
        return "is not a known field" + hint
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        low, high = _bounds(loc)
        if low is not None and high is not None:
            return f"must be between {low} and {high}, got {_show(value)}"
        return f"{error['msg'].lower()}, got {_show(value)}"
    if kind == "literal_error":
        return f"must be one of {error['ctx']['expected']}, got {_show(value)}"
    if kind in _TYPE_NAMES or kind.endswith("_type") or kind.endswith("_parsing"):
        wanted = _TYPE_NAMES.get(kind, kind.removesuffix("_type").removesuffix("_parsing"))
        return f"must be {wanted}, got {_show(value)}"
    return error["msg"]


def _format_errors(exc: pydantic.ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        if not loc:  # a rule across fields; the message names its field when it has one
            msg = error["msg"]
            parts.append(("input." if re.match(r"^\w+: ", msg) else "input: ") + msg)
            continue
        where = ".".join(["input", *(str(p) for p in loc)])
        parts.append(f"{where}: {_describe(error)}")
    return "; ".join(parts)


def parse_request(raw: Any, limits: Limits | None = None) -> JobRequest:
    """Validate a job's `input`; ValidationError with a readable message when it is wrong."""
    if not isinstance(raw, dict):
        raise ValidationError(f"input: must be a JSON object, got {type(raw).__name__}")
    try:
        return JobRequest.model_validate(raw, context={"limits": limits or Limits()})
    except pydantic.ValidationError as exc:
        raise ValidationError(_format_errors(exc)) from None


# ---------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class WordTiming:
    word: str
    start: float
    end: float
    score: float | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"word": self.word, "start": round(self.start, 3),
                               "end": round(self.end, 3)}
        if self.score is not None:
            out["score"] = round(float(self.score), 3)
        return out


@dataclass(frozen=True)
class PublishedFile:
    """One output: an s3:// URL + presigned https:// URL, or inline content."""

    s3_url: str | None = None
    presigned_url: str | None = None
    inline: str | None = None  # base64 (audio) or the text itself (subtitles)


@dataclass(frozen=True)
class JobResult:
    """What a successful job returns (`to_json()` gives plain JSON types only)."""

    kind: str  # "synthesize" | "subtitle"
    duration: float  # seconds of the output (synthesize) or input (subtitle) audio
    sample_rate: int
    language: str
    text: str  # the text spoken (as given, or as transcribed)
    word_timings: list[WordTiming]
    audio: PublishedFile | None = None  # synthesize only
    audio_format: str | None = None
    subtitles: PublishedFile | None = None
    subtitle_format: str | None = None
    processing_time: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        if self.audio is not None:
            _put_file(out, "audio", self.audio, inline_key="audio_base64")
            out["audio_format"] = self.audio_format
        if self.subtitles is not None:
            _put_file(out, "subtitles", self.subtitles, inline_key="subtitles")
            out["subtitle_format"] = self.subtitle_format
        out.update(
            text=self.text,
            language=self.language,
            word_timings=[w.to_json() for w in self.word_timings],
            duration=round(float(self.duration), 3),
            sample_rate=int(self.sample_rate),
            processing_time=round(float(self.processing_time), 3),
            timings={k: round(float(v), 4) for k, v in self.timings.items()},
        )
        return out


def _put_file(out: dict[str, Any], name: str, published: PublishedFile, inline_key: str) -> None:
    if published.s3_url is not None:
        out[f"{name}_url"] = published.s3_url
        out[f"{name}_presigned_url"] = published.presigned_url
    else:
        out[inline_key] = published.inline
