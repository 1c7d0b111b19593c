"""Fetching a job's inputs: s3://, https:// (presigned), data: URIs, local files for the CLI.

Every download streams into the job's temp directory and stops as soon as it passes the size
cap (F5_MAX_AUDIO_MB). Transient failures (timeouts, connection errors, 5xx, throttling) are
retried with backoff; 403/404 are not, and become errors that say what to check. https://
inputs go through the SSRF guard (http.py, guard.py). Local paths are read only when the
caller allows them (the CLI; never the endpoint).
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from f5_runtime.errors import InputError, StorageError, UserError
from f5_runtime.io import http
from f5_runtime.io.capped import CHUNK_BYTES, too_large, write_capped
from f5_runtime.io.retry import describe, is_transient, ssl_errors, with_retries
from f5_runtime.io.urls import S3Location, is_local, redact, url_scheme

if TYPE_CHECKING:
    from f5_runtime.config import Settings
    from f5_runtime.io.s3 import S3

log = logging.getLogger(__name__)


class Inputs:
    """Reads the inputs of the jobs of one process."""

    def __init__(self, settings: Settings, s3: S3, *, allow_local_files: bool = False,
                 ca_bundle: str | None = None):
        self.settings = settings
        self.s3 = s3
        self.allow_local_files = allow_local_files  # the CLI only, never the endpoint
        self.ca_bundle = ca_bundle  # tests with a local TLS server; default: certifi's bundle

    def fetch(self, url: str, dest: Path, *, what: str) -> Path:
        """Download `url` to `dest` (at most max_audio_bytes); InputError/StorageError if not."""
        limit = self.settings.max_audio_bytes
        attempts = self.settings.storage_attempts
        scheme = url_scheme(url)
        try:
            if scheme == "s3":
                with_retries(f"reading {what} {redact(url)}", attempts,
                             lambda: self.s3.download(S3Location.parse(url), dest, what, limit))
            elif scheme in ("https", "http"):
                with_retries(f"reading {what} {redact(url)}", attempts,
                             lambda: http.download(url, dest, what, limit, self.settings,
                                                   self.ca_bundle))
            elif scheme == "data":
                _fetch_data(url, dest, what, limit)
            elif self.allow_local_files and is_local(scheme):
                _fetch_local(url, dest, what, limit)
            else:
                raise InputError(f"{what}: unsupported URL {redact(url)!r}")
        except (UserError, StorageError):
            dest.unlink(missing_ok=True)
            raise
        except ssl_errors() as exc:
            dest.unlink(missing_ok=True)
            raise InputError(f"{what}: TLS failed for {redact(url)}: {describe(exc)}") from None
        except Exception as exc:
            dest.unlink(missing_ok=True)
            if is_transient(exc):
                raise StorageError(
                    f"could not read {what} {redact(url)} after {attempts} attempts: "
                    f"{describe(exc)}; the storage service may be down, try again"
                ) from exc
            raise
        log.info("fetched %s %s (%d bytes)", what, redact(url), dest.stat().st_size)
        return dest


def _fetch_data(url: str, dest: Path, what: str, limit: int) -> None:
    header, _, payload = url.partition(",")
    header = header.lower()  # scheme, media type and parameters are case-insensitive
    if not header.startswith("data:audio/") or not header.endswith(";base64"):
        raise InputError(f"{what}: a data: URI must look like data:audio/<type>;base64,...")
    payload = re.sub(r"\s+", "", payload)
    if len(payload) * 3 // 4 > limit:
        raise too_large(what, limit, len(payload) * 3 // 4)
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise InputError(f"{what}: the data: URI is not valid base64") from None
    dest.write_bytes(data)


def _fetch_local(url: str, dest: Path, what: str, limit: int) -> None:
    path = Path(unquote(urlsplit(url).path) if url.startswith("file:") else url).expanduser()
    if not path.is_file():
        raise InputError(f"{what}: no such file: {path}")
    size = path.stat().st_size
    if size > limit:
        raise too_large(what, limit, size)
    with path.open("rb") as source:
        write_capped(iter(lambda: source.read(CHUNK_BYTES), b""), dest, what, limit)
