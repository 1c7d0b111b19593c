"""S3 through boto3: one client per process, reads capped in size, writes, presigned URLs.

Endpoint and credentials follow RunPod's bucket convention (BUCKET_ENDPOINT_URL, which may
name a bucket: s3_endpoint.py; BUCKET_ACCESS_KEY_ID, BUCKET_SECRET_ACCESS_KEY, BUCKET_REGION),
else boto3's own chain (AWS_*), so S3-compatible stores (R2, B2, MinIO) work through the
endpoint URL. Transient failures are retried (retry.py); client errors become messages that
say what to check. `check_writable` proves an output place before any GPU time is spent.
"""

from __future__ import annotations

import logging
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from f5_runtime.errors import InputError, StorageError, UserError
from f5_runtime.io.capped import CHUNK_BYTES, too_large, write_capped
from f5_runtime.io.retry import describe, is_transient, with_retries
from f5_runtime.io.s3_endpoint import make_s3_client

if TYPE_CHECKING:
    from f5_runtime.config import Settings
    from f5_runtime.io.outputs import OutputPlace
    from f5_runtime.io.urls import S3Location

log = logging.getLogger(__name__)

WRITE_CHECK = ".write-check"  # empty object written and removed before the engines run


class S3:
    def __init__(self, settings: Settings):
        self.settings = settings

    @cached_property
    def client(self) -> Any:
        return make_s3_client(self.settings)

    def retry(self, what: str, action):
        return with_retries(what, self.settings.storage_attempts, action)

    # --- reading -----------------------------------------------------------------------------

    def download(self, loc: S3Location, dest: Path, what: str, limit: int) -> None:
        """`loc` into `dest`, at most `limit` bytes (InputError beyond); one try: the caller
        retries."""
        import botocore.exceptions as bx

        try:
            response = self.client.get_object(Bucket=loc.bucket, Key=loc.key)
        except bx.ClientError as exc:
            if is_transient(exc):
                raise
            raise client_error(exc, f"{what} {loc}", reading=True) from None
        size = response.get("ContentLength")
        if size is not None and size > limit:
            response["Body"].close()
            raise too_large(what, limit, size)
        write_capped(response["Body"].iter_chunks(CHUNK_BYTES), dest, what, limit)

    # --- writing -----------------------------------------------------------------------------

    def upload(self, place: OutputPlace, name: str, data: bytes, content_type: str) -> str:
        """Put one object (retrying transient failures); returns its s3:// URL."""
        import botocore.exceptions as bx

        key = place.prefix + name
        url = place.url(name)
        try:
            self.retry(f"writing {url}", lambda: self.client.put_object(
                Bucket=place.bucket, Key=key, Body=data, ContentType=content_type))
        except Exception as exc:
            if is_transient(exc):
                raise StorageError(
                    f"could not write {url} after {self.settings.storage_attempts} attempts: "
                    f"{describe(exc)}; the storage service may be down, try again"
                ) from exc
            if isinstance(exc, bx.ClientError):
                raise client_error(exc, f"output {url}", reading=False) from None
            raise
        log.info("uploaded %s (%d bytes, %s)", url, len(data), content_type)
        return url

    def check_writable(self, place: OutputPlace) -> None:
        """Prove the job's outputs can be written before any GPU time is spent on them: put an
        empty object where they will go and remove it (the same errors as a real upload)."""
        self.upload(place, WRITE_CHECK, b"", "application/octet-stream")
        self.delete(place, WRITE_CHECK, quiet=True)

    def presign(self, place: OutputPlace, name: str) -> str:
        return self.client.generate_presigned_url(
            "get_object", Params={"Bucket": place.bucket, "Key": place.prefix + name},
            ExpiresIn=self.settings.presign_expiry,
        )

    def delete(self, place: OutputPlace, name: str, *, quiet: bool = False) -> bool:
        """Best effort (a few tries); False when the object could not be removed."""
        try:
            self.retry(f"deleting {place.url(name)}", lambda: self.client.delete_object(
                Bucket=place.bucket, Key=place.prefix + name))
        except Exception as exc:
            log.error("could not delete %s: %s", place.url(name), describe(exc))
            return False
        if not quiet:
            log.info("deleted %s (the job failed after uploading it)", place.url(name))
        return True


    # --- small objects, whole (the voice store) -----------------------------------------------

    def _call(self, what: str, action, *, reading: bool):
        """`action` with retries; errors as the rest of this module words them."""
        import botocore.exceptions as bx

        try:
            return self.retry(what, action)
        except Exception as exc:
            if is_transient(exc):
                raise StorageError(
                    f"{what}: failed after {self.settings.storage_attempts} attempts: "
                    f"{describe(exc)}; the storage service may be down, try again"
                ) from exc
            if isinstance(exc, bx.ClientError):
                raise client_error(exc, what, reading=reading) from None
            raise

    def read_object(self, loc: S3Location, limit: int) -> bytes | None:
        """The object's bytes (InputError past `limit`), None when there is no such object."""
        def get() -> bytes | None:
            import botocore.exceptions as bx

            try:
                response = self.client.get_object(Bucket=loc.bucket, Key=loc.key)
            except bx.ClientError as exc:
                if error_code(exc) in ("NoSuchKey", "404", "NotFound"):
                    return None
                raise
            if response.get("ContentLength", 0) > limit:
                response["Body"].close()
                raise too_large(str(loc), limit, response["ContentLength"])
            return response["Body"].read()

        return self._call(f"reading {loc}", get, reading=True)

    def write_object(self, loc: S3Location, data: bytes, content_type: str, *,
                     if_absent: bool = False) -> bool:
        """Put the object; with `if_absent` (a conditional PUT, If-None-Match: *) False when
        it exists. Stores that do not implement conditional writes get a plain PUT."""
        def put() -> bool:
            import botocore.exceptions as bx

            extra = {"IfNoneMatch": "*"} if if_absent else {}
            try:
                self.client.put_object(Bucket=loc.bucket, Key=loc.key, Body=data,
                                       ContentType=content_type, **extra)
            except bx.ClientError as exc:
                code = error_code(exc)
                if code in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                    return False
                if not (if_absent and code == "NotImplemented"):
                    raise
                log.warning("this S3 store has no conditional writes: %s written without", loc)
                self.client.put_object(Bucket=loc.bucket, Key=loc.key, Body=data,
                                       ContentType=content_type)
            return True

        return self._call(f"writing {loc}", put, reading=False)

    def remove_object(self, loc: S3Location) -> None:
        self._call(f"deleting {loc}",
                   lambda: self.client.delete_object(Bucket=loc.bucket, Key=loc.key),
                   reading=False)

    def list_keys(self, bucket: str, prefix: str) -> list[str]:
        def listing() -> list[str]:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=prefix)
            return [o["Key"] for page in pages for o in page.get("Contents", [])]

        return self._call(f"listing s3://{bucket}/{prefix}", listing, reading=True)


def error_code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def client_error(exc: Any, what: str, *, reading: bool) -> UserError:
    """A non-transient S3 error as a message that says what to check."""
    code = exc.response.get("Error", {}).get("Code", "")
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if code in ("NoSuchKey", "404", "NotFound"):
        return InputError(f"{what}: no such object (404): check the bucket and key")
    if code == "NoSuchBucket":
        return UserError(f"{what}: the bucket does not exist (NoSuchBucket)")
    if code in ("AccessDenied", "403", "Forbidden", "InvalidAccessKeyId",
                "SignatureDoesNotMatch", "AllAccessDisabled"):
        verb = "read" if reading else "write to"
        return UserError(
            f"{what}: access denied ({code}): the endpoint's credentials "
            f"(BUCKET_ACCESS_KEY_ID) cannot {verb} this bucket; grant access"
            + (" or send a presigned https:// URL" if reading else " or choose another bucket")
        )
    return UserError(f"{what}: the storage service refused the request: {code} (HTTP {status})")
