"""Named voices over HTTP, on the server's one voice library (`Service.voices`, the same the
native API's jobs use):

    GET    /v1/audio/voices         -> 200 {"object": "list", "default": "en-default",
                                            "voices": [{"name", "duration", "language", "text",
                                                        "created", "builtin"}, ...]}
    POST   /v1/audio/voices         multipart: name, file, text?, language?, overwrite?
                                    -> 201 the voice; 409 the name is taken (no overwrite);
                                       400 a bad name or field; 413 too big; 422 not audio
    DELETE /v1/audio/voices/{name}  -> 200 {"deleted": name}; 404 unknown

Built-in voices (en-default, zh-default) are read-only: registering over one or deleting one
is 403. `speech_voice` is what a speech request's `voice` means: `library.resolve` (a
registered or built-in name; `default` and OpenAI's standard names, unless registered, mean
the default voice of the request's language); any other name is 404 in OpenAI's error shape,
saying how to list the voices.

Reading and writing the store runs on a worker thread; preparing a voice (the engines) runs on
the engine scheduler's device thread, between batches (the library's `prepare`, service.py).
"""

from __future__ import annotations

import asyncio
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic_core import PydanticCustomError
from starlette.datastructures import UploadFile

from f5_runtime.api.request import DEFAULT_LANGUAGE, check_language, check_reference_text
from f5_runtime.errors import UnknownVoiceError, ValidationError, VoiceExistsError
from f5_runtime.io import audio as audio_io
from f5_runtime.serving.http.errors import HttpError
from f5_runtime.voices.builtin import BUILTINS
from f5_runtime.voices.names import DEFAULT_VOICE_NAMES, name_problem

if TYPE_CHECKING:
    from f5_runtime.engines.reference import PreparedReference
    from f5_runtime.serving.http.service import Service

router = APIRouter()
FORM_OVERHEAD = 64 * 1024  # bytes of a multipart body beside the recording (fields, headers)
FIELDS = ("name", "file", "text", "language", "overwrite")
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off", "")


def not_found(name: str) -> HttpError:
    return HttpError(404, f"no voice is named {name!r}: GET /v1/audio/voices lists this "
                     "server's voices ('default' and OpenAI's standard names, such as "
                     "'alloy', mean the default voice); POST /v1/audio/voices adds one",
                     param="voice", code="voice_not_found")


def read_only(name: str) -> HttpError:
    return HttpError(403, f"{name!r} is a built-in voice: built-in voices cannot be replaced or "
                     "deleted; register yours under another name", param="name",
                     code="voice_read_only")


def _checked_name(value: Any, param: str) -> str:
    problem = name_problem(value)
    if problem is not None:
        raise HttpError(400, f"{param}: {problem}", param=param, code="invalid_voice_name")
    return value


async def speech_voice(service: Service, name: str, language: str) -> PreparedReference:
    """The prepared reference a speech request's `voice` names (module docstring)."""
    library = service.require_voices()
    _checked_name(name, "voice")
    try:
        voice = await asyncio.to_thread(library.resolve, name, language)
    except UnknownVoiceError as exc:
        if name in DEFAULT_VOICE_NAMES:  # the default voice itself is missing: the library says so
            raise HttpError(404, str(exc), param="voice", code="voice_not_found") from None
        raise not_found(name) from None
    return voice.reference


@router.get("/v1/audio/voices")
async def list_voices(request: Request) -> dict[str, Any]:
    library = request.app.state.service.require_voices()
    infos = await asyncio.to_thread(library.list)
    return {"object": "list", "default": library.default_voice,
            "voices": [info.to_json() for info in infos]}


def _field(form: Any, name: str) -> str | None:
    value = form.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise HttpError(400, f"{name}: must be a text field, not a file", param=name)
    return value


def _checked(check: Any, value: str | None, param: str) -> str | None:
    try:
        return check(value)
    except PydanticCustomError as exc:
        raise HttpError(400, f"{param}: {exc.message()}", param=param) from None


def _overwrite(value: str | None) -> bool:
    value = (value or "").strip().lower()
    if value not in _TRUE + _FALSE:
        raise HttpError(400, f"overwrite: must be true or false, got {value[:20]!r}",
                        param="overwrite")
    return value in _TRUE


async def _upload(service: Service, request: Request) -> tuple[Any, bytes, str]:
    """The form and the recording's bytes, read within F5_MAX_AUDIO_MB (before and after)."""
    limit = service.settings.max_audio_bytes
    too_big = HttpError(413, f"the recording is larger than this server's {limit >> 20} MiB "
                        "(F5_MAX_AUDIO_MB): send a shorter clip (3 to 12 s is best)",
                        param="file")
    length = request.headers.get("content-length")
    if length is None or not length.isdigit():
        raise HttpError(411, "send the upload with a Content-Length (a multipart form, as "
                        "curl -F or a browser's FormData sends it)")
    if int(length) > limit + FORM_OVERHEAD:
        raise too_big
    form = await request.form(max_files=1, max_fields=len(FIELDS))
    unknown = sorted(set(form.keys()) - set(FIELDS))
    if unknown:
        raise HttpError(400, f"{unknown[0]}: is not a known field (the form takes "
                        f"{', '.join(FIELDS)})", param=unknown[0])
    file = form.get("file")
    if not isinstance(file, UploadFile):
        raise HttpError(400, "file: is required: the recording, as a multipart file field "
                        "(curl -F file=@voice.wav)", param="file")
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise too_big
    return form, data, PurePosixPath(file.filename or "upload").name[:200]


@router.post("/v1/audio/voices", status_code=201)
async def add_voice(request: Request) -> JSONResponse:
    service: Service = request.app.state.service
    library = service.require_voices()
    form, data, filename = await _upload(service, request)
    name = _field(form, "name")
    if not name:
        raise HttpError(400, "name: is required: the name to register the voice under",
                        param="name")
    _checked_name(name, "name")
    if name in BUILTINS:
        raise read_only(name)
    text = _checked(check_reference_text, _field(form, "text"), "text")
    language = _checked(check_language, _field(form, "language") or None, "language")
    if language is None and text is not None:
        language = DEFAULT_LANGUAGE  # a transcript is taken to be in it (as a job's reference)
    overwrite = _overwrite(_field(form, "overwrite"))
    audio = await asyncio.to_thread(audio_io.decode, data, what=f"the recording {filename!r}",
                                    max_seconds=service.settings.max_audio_seconds)
    with service.admission.admit():  # preparing it is engine work: it queues like speech
        try:
            info = await asyncio.to_thread(library.register, name, audio, text, language,
                                           overwrite, f"upload: {filename}")
        except VoiceExistsError:
            raise HttpError(409, f"a voice named {name!r} exists already: send overwrite=true "
                            "to replace it, or choose another name", param="name",
                            code="voice_exists") from None
    return JSONResponse(info.to_json(), status_code=201)


@router.delete("/v1/audio/voices/{name}")
async def delete_voice(name: str, request: Request) -> dict[str, str]:
    library = request.app.state.service.require_voices()
    _checked_name(name, "name")
    if name in BUILTINS:
        raise read_only(name)
    try:
        await asyncio.to_thread(library.delete, name)
    except UnknownVoiceError:
        raise not_found(name) from None
    except ValidationError as exc:  # the library's own rules (names, built-ins)
        raise HttpError(400, str(exc), param="name") from None
    return {"deleted": name}
