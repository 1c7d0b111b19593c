"""URLs as the service sees them: schemes, s3:// locations, job ids in keys, and redaction.

Credentials and presigned query strings never reach the logs or error messages: every URL
shown goes through `redact`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from f5_runtime.errors import InputError


@dataclass(frozen=True)
class S3Location:
    bucket: str
    key: str

    @classmethod
    def parse(cls, url: str) -> S3Location:
        """Keys are taken literally, as the AWS CLI does ('%', '?' and '#' are key characters)."""
        if not url.startswith("s3://"):
            raise InputError(f"{url!r} is not an s3://bucket/key URL")
        bucket, _, key = url[len("s3://"):].partition("/")
        if not bucket:
            raise InputError(f"{url!r} is not an s3://bucket/key URL")
        return cls(bucket, key)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def url_scheme(url: str) -> str:
    """The scheme, lower-cased: 's3', 'https', ...; '' for a bare path, one letter for C:\\."""
    return url.split(":", 1)[0].lower() if ":" in url else ""


def is_local(scheme: str) -> bool:
    """A local path or file:// URL (allowed to the CLI only)."""
    return scheme in ("", "file") or len(scheme) == 1


def redact(url: str) -> str:
    """A URL fit for logs and messages: no query string (signatures), no userinfo, no payload."""
    if url.startswith("data:"):
        return url.split(",", 1)[0] + f",<{len(url)} chars>"
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    query = "?<redacted>" if parts.query else ""
    return f"{parts.scheme}://{host}{parts.path}{query}" if parts.scheme else url


def redact_text(text: str) -> str:
    """Query strings (signatures) cut out of a free text, such as an exception's message."""
    return re.sub(r"\?[^\s\"']*", "?<redacted>", text)


def safe_job_id(job_id: str) -> str:
    """A job id usable in keys and paths (RunPod ids are already safe; local ones may not be)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", job_id)[:128] or "job"
