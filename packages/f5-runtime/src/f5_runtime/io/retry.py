"""Retries for storage calls: transient failures (timeouts, connection errors, 5xx,
throttling) are tried again with exponential backoff, up to F5_STORAGE_ATTEMPTS; anything else
(403, 404, a certificate problem) fails at once."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from f5_runtime.errors import WorkerStopping
from f5_runtime.io.urls import redact_text

log = logging.getLogger(__name__)

BACKOFF_FIRST = 0.25  # seconds; doubles per retry
BACKOFF_MAX = 4.0  # seconds
RETRYABLE_HTTP = frozenset({408, 429, 500, 502, 503, 504})
THROTTLING_CODES = frozenset(
    {"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "RequestTimeTooSkewed",
     "InternalError", "ServiceUnavailable", "RequestLimitExceeded", "TooManyRequests"}
)

T = TypeVar("T")


class TransientHTTP(Exception):
    """A retryable HTTP status from an https:// input."""

    def __init__(self, status: int):
        super().__init__(f"HTTP {status}")
        self.status = status


def stop_request(exc: BaseException) -> WorkerStopping | None:
    """The WorkerStopping (SIGTERM, serving/shutdown.py) behind `exc`: botocore wraps what is
    raised inside its HTTP client ("An HTTP Client raised an unhandled exception")."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, WorkerStopping):
            return exc
        wrapped = getattr(exc, "kwargs", {}).get("error") if hasattr(exc, "kwargs") else None
        exc = wrapped or exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return None


def is_transient(exc: BaseException) -> bool:
    """Timeouts, connection errors, 5xx and throttling: worth another try."""
    import botocore.exceptions as bx
    import urllib3.exceptions as ux

    if stop_request(exc) is not None:
        return False  # the worker is stopping: no retry

    if isinstance(exc, ux.SSLError | bx.SSLError):
        return False  # a certificate problem does not go away by retrying
    if isinstance(exc, TransientHTTP | bx.ConnectionError | bx.HTTPClientError):
        return True
    if isinstance(exc, bx.IncompleteReadError | ux.HTTPError | ConnectionError | TimeoutError):
        return True
    if isinstance(exc, bx.ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        code = exc.response.get("Error", {}).get("Code", "")
        return status >= 500 or status == 429 or code in THROTTLING_CODES
    return False


def describe(exc: BaseException) -> str:
    """A short, redacted description of a storage failure for logs and messages."""
    import botocore.exceptions as bx

    if isinstance(exc, bx.ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return f"{error.get('Code', 'error')} (HTTP {status})"
    return redact_text(str(exc) or type(exc).__name__)[:300]


def ssl_errors() -> tuple[type[BaseException], ...]:
    import ssl

    import botocore.exceptions as bx
    import urllib3.exceptions as ux

    return (ux.SSLError, bx.SSLError, ssl.SSLError)


def with_retries(what: str, attempts: int, action: Callable[[], T]) -> T:
    """`action()`, tried up to `attempts` times while it fails transiently (logged)."""

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning("%s failed (attempt %d/%d): %s; retrying", what, state.attempt_number,
                    attempts, describe(exc) if exc else "?")

    retrying = Retrying(
        retry=retry_if_exception(is_transient),
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=BACKOFF_FIRST, max=BACKOFF_MAX),
        before_sleep=before_sleep,
        reraise=True,
    )
    try:
        return retrying(action)
    except Exception as exc:
        if (stop := stop_request(exc)) is not None and stop is not exc:
            raise stop from None
        raise
