"""Where a job's outputs go, and publishing them.

In this order: the request's `output` (bucket + prefix); F5_OUTPUT_URL; the bucket
BUCKET_ENDPOINT_URL names, under `f5-tts-outputs/`; the bucket of the request's first s3://
input, under `f5-tts-outputs/`; else inline in the result (base64 audio, subtitle text), up to
F5_INLINE_MAX_MB. Each job gets `<prefix><job-id>/`, checked to be writable before the engines
run (`S3.check_writable`). A `Publisher` records each object before uploading it and deletes
them all when the job fails, so nothing half-written stays.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from f5_runtime.errors import ConfigError, UserError
from f5_runtime.io.s3_endpoint import parse_bucket_endpoint
from f5_runtime.io.urls import S3Location, safe_job_id

if TYPE_CHECKING:
    from f5_runtime.config import Settings
    from f5_runtime.io.s3 import S3

OUTPUTS_DIR = "f5-tts-outputs/"  # prefix used in an input's bucket when nothing else is set


@dataclass(frozen=True)
class OutputPlace:
    """Where one job's outputs go: s3://bucket/prefix<name> (prefix ends with the job id)."""

    bucket: str
    prefix: str

    def url(self, name: str) -> str:
        return f"s3://{self.bucket}/{self.prefix}{name}"


@dataclass(frozen=True)
class PublishedFile:
    """One output: an s3:// URL + presigned https:// URL, or inline content."""

    s3_url: str | None = None
    presigned_url: str | None = None
    inline: str | None = None  # base64 (audio) or the text itself (subtitles)


def parse_output_url(url: str) -> tuple[str, str]:
    """F5_OUTPUT_URL ('s3://bucket/prefix/') -> (bucket, prefix); ConfigError when malformed."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ConfigError(f"F5_OUTPUT_URL={url!r}: must be s3://bucket/ or s3://bucket/prefix/")
    prefix = parts.path.lstrip("/")
    return parts.netloc, prefix if not prefix or prefix.endswith("/") else prefix + "/"


def choose_output(settings: Settings, job_id: str, requested: tuple[str, str] | None,
                  input_urls: Sequence[str]) -> OutputPlace | None:
    """The requested (bucket, prefix); else F5_OUTPUT_URL; else the bucket BUCKET_ENDPOINT_URL
    names; else the first s3:// input's bucket; else None (inline)."""
    if requested is not None:
        bucket, prefix = requested
    elif settings.output_url:
        bucket, prefix = parse_output_url(settings.output_url)
    elif endpoint_bucket := parse_bucket_endpoint(settings.bucket_endpoint_url).bucket:
        bucket, prefix = endpoint_bucket, OUTPUTS_DIR
    else:
        s3_inputs = [u for u in input_urls if u.startswith("s3://")]
        if not s3_inputs:
            return None
        bucket, prefix = S3Location.parse(s3_inputs[0]).bucket, OUTPUTS_DIR
    return OutputPlace(bucket, f"{prefix}{safe_job_id(job_id)}/")


class Publisher:
    """Publishes one job's outputs; `rollback()` removes what was uploaded if the job fails."""

    def __init__(self, s3: S3, place: OutputPlace | None, inline_max_bytes: int):
        self.s3 = s3
        self.place = place
        self.inline_max_bytes = inline_max_bytes
        self.uploaded: list[str] = []

    def publish(self, name: str, data: bytes, content_type: str, *, text: bool = False
                ) -> PublishedFile:
        if self.place is None:
            if text:
                return PublishedFile(inline=data.decode("utf-8-sig"))
            limit = self.inline_max_bytes
            if len(data) > limit:
                raise UserError(
                    f"the output {name} is {len(data) / 2**20:.1f} MiB, more than the "
                    f"{limit / 2**20:.1f} MiB that can be returned inline: configure a bucket "
                    "(send output.bucket, set F5_OUTPUT_URL, or use s3:// inputs)"
                )
            return PublishedFile(inline=base64.b64encode(data).decode("ascii"))
        # Recorded before the PUT: one that lands but times out on the client must still be
        # rolled back (deleting a key that never landed is harmless).
        self.uploaded.append(name)
        url = self.s3.upload(self.place, name, data, content_type)
        return PublishedFile(s3_url=url, presigned_url=self.s3.presign(self.place, name))

    def rollback(self) -> None:
        """Delete every object this job tried to write (best effort, logged when it fails)."""
        if self.place is None:
            return
        for name in reversed(self.uploaded):
            self.s3.delete(self.place, name)
        self.uploaded.clear()
