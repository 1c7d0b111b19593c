"""Every error the HTTP server answers, in OpenAI's shape, with the right status.

`status_and_message(exc)` is the one mapping from an exception to (status, message, param):
a request the client must fix (400/413/422), a missing key (401), a built-in voice changed
(403), an unknown job, voice or route (404), a voice name taken (409), a full queue (429,
with Retry-After), engines still loading (503), a request past its time (504), anything
unexpected (500, the traceback in the log, never in the answer).
`install(app)` makes every route use it.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from f5_runtime.errors import (
    InputError,
    JobCancelled,
    UnknownVoiceError,
    UserError,
    VoiceExistsError,
)
from f5_runtime.serving.http.admission import Busy
from f5_runtime.serving.http.protocol import error_body
from f5_runtime.serving.http.service import NotReady

log = logging.getLogger(__name__)


class HttpError(Exception):
    """An answer the route decided: status, message, and the field at fault."""

    def __init__(self, status: int, message: str, param: str | None = None,
                 code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code


def validation_message(exc: RequestValidationError) -> tuple[str, str | None]:
    """Pydantic's errors as one readable line naming each field, and the first field."""
    parts, param = [], None
    for error in exc.errors():
        loc = [str(p) for p in error["loc"] if p != "body"]
        where = ".".join(loc) or "body"
        param = param or (loc[0] if loc else None)
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "is not a known field"
        elif error["type"] == "missing":
            message = "is required"
        parts.append(f"{where}: {message}")
    return "; ".join(parts) or "the request body is not valid JSON", param


def status_and_message(exc: BaseException) -> tuple[int, str, str | None]:
    if isinstance(exc, HttpError):
        return exc.status, exc.message, exc.param
    if isinstance(exc, RequestValidationError):
        message, param = validation_message(exc)
        return 400, message, param
    if isinstance(exc, Busy):
        return 429, str(exc), None
    if isinstance(exc, NotReady):
        return 503, str(exc), None
    if isinstance(exc, JobCancelled):
        return 504, str(exc), None
    if isinstance(exc, InputError):
        return 422, str(exc), None
    if isinstance(exc, UnknownVoiceError):
        return 404, str(exc), "voice"
    if isinstance(exc, VoiceExistsError):
        return 409, str(exc), "name"
    if isinstance(exc, UserError):
        return 400, str(exc), None
    if isinstance(exc, StarletteHTTPException):
        return exc.status_code, str(exc.detail), None
    return 500, f"internal error ({type(exc).__name__}); the details are in the server's log", None


def error_response(exc: BaseException) -> JSONResponse:
    status, message, param = status_and_message(exc)
    if status >= 500 and status not in (503, 504):
        log.error("request failed", exc_info=exc)
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, Busy) else (
        {"Retry-After": "5"} if isinstance(exc, NotReady) else None)
    code = getattr(exc, "code", None) if isinstance(exc, HttpError) else None
    return JSONResponse(error_body(status, message, param, code), status_code=status,
                        headers=headers)


def install(app: FastAPI) -> None:
    async def handle(request: Request, exc: Exception) -> JSONResponse:
        return error_response(exc)

    for kind in (Exception, HttpError, RequestValidationError, StarletteHTTPException, Busy,
                 NotReady, UserError, JobCancelled):
        app.add_exception_handler(kind, handle)
