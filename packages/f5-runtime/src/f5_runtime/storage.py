"""Fetching inputs and publishing outputs: s3://, https:// (presigned), data: URIs.

Inputs
- `s3://bucket/key` through boto3. Endpoint and credentials follow RunPod's bucket convention
  (BUCKET_ENDPOINT_URL, BUCKET_ACCESS_KEY_ID, BUCKET_SECRET_ACCESS_KEY), else boto3's own chain
  (AWS_*), so S3-compatible stores (R2, B2, MinIO) work through the endpoint URL.
- `https://` (and `http://` when F5_ALLOW_HTTP=1): the host is resolved and *every* address is
  checked (loopback, private, link-local, metadata, multicast, reserved, and their IPv6 forms
  are refused unless F5_ALLOW_PRIVATE_URLS=1; metadata addresses always); the connection is
  pinned to the checked address (no DNS rebinding) and redirects are followed by hand, each
  hop checked again.
- `data:audio/...;base64,...`; local paths only when the caller allows them (the CLI).
Every download streams into the job's temp directory and stops as soon as it passes the size
cap. Transient failures (timeouts, connection errors, 5xx, throttling) are retried with
backoff; 403/404 are not, and become errors that say what to check.

Outputs go, in this order, to: the request's `output` (bucket + prefix); F5_OUTPUT_URL; the
bucket of the request's first s3:// input under `f5-tts-outputs/`; else inline. Each job gets
`<prefix><job-id>/`, checked to be writable before the engines run (`check_writable`). A
`Publisher` records each object before uploading it and deletes them all when the job fails.

Credentials and presigned query strings never reach the logs (`redact`).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import logging
import re
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote, urljoin, urlsplit

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from f5_runtime.errors import ConfigError, InputError, StorageError, UserError, WorkerStopping
from f5_runtime.s3_endpoint import make_s3_client, parse_bucket_endpoint

if TYPE_CHECKING:
    from f5_runtime.config import Settings
    from f5_runtime.schema import JobRequest, PublishedFile

log = logging.getLogger(__name__)

CHUNK_BYTES = 256 * 1024  # streaming read size
MAX_REDIRECTS = 5
OUTPUTS_DIR = "f5-tts-outputs/"  # prefix used in an input's bucket when nothing else is set
WRITE_CHECK = ".write-check"  # empty object written and removed before the engines run
BACKOFF_FIRST = 0.25  # seconds; doubles per retry
BACKOFF_MAX = 4.0  # seconds
RETRYABLE_HTTP = frozenset({408, 429, 500, 502, 503, 504})
THROTTLING_CODES = frozenset(
    {"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "RequestTimeTooSkewed",
     "InternalError", "ServiceUnavailable", "RequestLimitExceeded", "TooManyRequests"}
)
# Instance-metadata endpoints (AWS/GCP/Azure/OpenStack, AWS IPv6, Alibaba): never fetched.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
CGNAT = ipaddress.ip_network("100.64.0.0/10")  # not in is_private before Python 3.12.4
NAT64 = ipaddress.ip_network("64:ff9b::/96")  # well-known NAT64 prefix: the IPv4 address inside
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated ::a.b.c.d form


# ---------------------------------------------------------------------------------------------
# URLs


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


@dataclass(frozen=True)
class OutputPlace:
    """Where one job's outputs go: s3://bucket/prefix<name> (prefix ends with the job id)."""

    bucket: str
    prefix: str

    def url(self, name: str) -> str:
        return f"s3://{self.bucket}/{self.prefix}{name}"


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


def parse_output_url(url: str) -> tuple[str, str]:
    """F5_OUTPUT_URL ('s3://bucket/prefix/') -> (bucket, prefix); ConfigError when malformed."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ConfigError(f"F5_OUTPUT_URL={url!r}: must be s3://bucket/ or s3://bucket/prefix/")
    prefix = parts.path.lstrip("/")
    return parts.netloc, prefix if not prefix or prefix.endswith("/") else prefix + "/"


def choose_output(request: JobRequest, settings: Settings, job_id: str) -> OutputPlace | None:
    """The request's output; else F5_OUTPUT_URL; else the bucket BUCKET_ENDPOINT_URL names;
    else the first s3:// input's bucket; else None (inline)."""
    if request.output is not None:
        bucket, prefix = request.output.bucket, request.output.prefix
    elif settings.output_url:
        bucket, prefix = parse_output_url(settings.output_url)
    elif endpoint_bucket := parse_bucket_endpoint(settings.bucket_endpoint_url).bucket:
        bucket, prefix = endpoint_bucket, OUTPUTS_DIR
    else:
        s3_inputs = [u for u in request.input_urls() if u.startswith("s3://")]
        if not s3_inputs:
            return None
        bucket, prefix = S3Location.parse(s3_inputs[0]).bucket, OUTPUTS_DIR
    return OutputPlace(bucket, f"{prefix}{safe_job_id(job_id)}/")


def safe_job_id(job_id: str) -> str:
    """A job id usable in keys and paths (RunPod ids are already safe; local ones may not be)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", job_id)[:128] or "job"


# ---------------------------------------------------------------------------------------------
# Address checks (SSRF)


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries and routes to: IPv4-mapped (::ffff:a.b.c.d),
    IPv4-compatible (::a.b.c.d), 6to4 (2002::/16), Teredo's client (2001::/32) and NAT64
    (64:ff9b::/96); None for an ordinary IPv6 address."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in NAT64 or (ip in IPV4_COMPATIBLE and int(ip) > 1):  # not :: and ::1 themselves
        return ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)
    return None


def address_refusal(address: str, *, allow_private: bool) -> str | None:
    """Why a connection to `address` is refused, or None when it is allowed. An IPv6 address
    that carries an IPv4 one is judged by both (the IPv4 one first: that is where it goes)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6 and (inner := embedded_ipv4(ip)) is not None:
        reason = address_refusal(str(inner), allow_private=allow_private)
        if reason is not None or ip.ipv4_mapped is not None or ip in NAT64:  # pure translations
            return reason and f"{reason} ({inner} inside {ip})"
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_unspecified or ip.is_multicast:
        return "an unspecified or multicast address"
    if allow_private:
        return None
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_private or (ip.version == 4 and ip in CGNAT):
        return "a private address"
    if ip.version == 6 and ip.is_site_local:  # fec0::/10: deprecated, private by intent
        return "a site-local address"
    if ip.is_reserved or not ip.is_global:
        return "a reserved or non-public address"
    return None


def resolve_checked(host: str, port: int, *, allow_private: bool) -> str:
    """Resolve `host`, refuse it if any address is not allowed, return the address to use."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise InputError(f"cannot resolve host {host!r}: {exc.strerror}") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    for address in addresses:
        reason = address_refusal(address, allow_private=allow_private)
        if reason:
            hint = "" if "metadata" in reason or "link-local" in reason else (
                " (private deployments: F5_ALLOW_PRIVATE_URLS=1)"
            )
            raise InputError(f"refusing to fetch from {host!r}: it resolves to {reason}{hint}")
    return addresses[0]


# ---------------------------------------------------------------------------------------------
# Retries


class _TransientHTTP(Exception):
    """A retryable HTTP status from an https:// input."""

    def __init__(self, status: int):
        super().__init__(f"HTTP {status}")
        self.status = status


def stop_request(exc: BaseException) -> WorkerStopping | None:
    """The WorkerStopping (SIGTERM, shutdown.py) behind `exc`: botocore wraps what is raised
    inside its HTTP client ("An HTTP Client raised an unhandled exception")."""
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
    if isinstance(exc, _TransientHTTP | bx.ConnectionError | bx.HTTPClientError):
        return True
    if isinstance(exc, bx.IncompleteReadError | ux.HTTPError | ConnectionError | TimeoutError):
        return True
    if isinstance(exc, bx.ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        code = exc.response.get("Error", {}).get("Code", "")
        return status >= 500 or status == 429 or code in THROTTLING_CODES
    return False


def _describe(exc: BaseException) -> str:
    import botocore.exceptions as bx

    if isinstance(exc, bx.ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return f"{error.get('Code', 'error')} (HTTP {status})"
    text = str(exc) or type(exc).__name__
    return re.sub(r"\?[^\s\"']*", "?<redacted>", text)[:300]


def ssl_errors() -> tuple[type[BaseException], ...]:
    import ssl

    import botocore.exceptions as bx
    import urllib3.exceptions as ux

    return (ux.SSLError, bx.SSLError, ssl.SSLError)


T = TypeVar("T")


# ---------------------------------------------------------------------------------------------
# Storage


class Storage:
    """Reads inputs and writes outputs for the jobs of one process; one boto3 client, reused."""

    def __init__(self, settings: Settings, *, allow_local_files: bool = False,
                 ca_bundle: str | None = None):
        self.settings = settings
        self.allow_local_files = allow_local_files  # the CLI only, never the endpoint
        self.ca_bundle = ca_bundle  # tests with a local TLS server; default: certifi's bundle

    @cached_property
    def s3(self) -> Any:
        return make_s3_client(self.settings)

    def _retry(self, what: str, action: Callable[[], T]) -> T:
        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.warning("%s failed (attempt %d/%d): %s; retrying", what, state.attempt_number,
                        self.settings.storage_attempts, _describe(exc) if exc else "?")

        retrying = Retrying(
            retry=retry_if_exception(is_transient),
            stop=stop_after_attempt(self.settings.storage_attempts),
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

    # --- inputs -------------------------------------------------------------------------------

    def fetch(self, url: str, dest: Path, *, what: str) -> Path:
        """Download `url` to `dest` (at most max_audio_bytes); InputError/StorageError if not."""
        limit = self.settings.max_audio_bytes
        scheme = url_scheme(url)
        try:
            if scheme == "s3":
                self._retry(f"reading {what} {redact(url)}",
                            lambda: self._fetch_s3(S3Location.parse(url), dest, what, limit))
            elif scheme in ("https", "http"):
                self._retry(f"reading {what} {redact(url)}",
                            lambda: self._fetch_http(url, dest, what, limit))
            elif scheme == "data":
                self._fetch_data(url, dest, what, limit)
            elif self.allow_local_files and is_local(scheme):
                self._fetch_local(url, dest, what, limit)
            else:
                raise InputError(f"{what}: unsupported URL {redact(url)!r}")
        except (UserError, StorageError):
            dest.unlink(missing_ok=True)
            raise
        except ssl_errors() as exc:
            dest.unlink(missing_ok=True)
            raise InputError(f"{what}: TLS failed for {redact(url)}: {_describe(exc)}") from None
        except Exception as exc:
            dest.unlink(missing_ok=True)
            if is_transient(exc):
                raise StorageError(
                    f"could not read {what} {redact(url)} after {self.settings.storage_attempts} "
                    f"attempts: {_describe(exc)}; the storage service may be down, try again"
                ) from exc
            raise
        log.info("fetched %s %s (%d bytes)", what, redact(url), dest.stat().st_size)
        return dest

    def _fetch_s3(self, loc: S3Location, dest: Path, what: str, limit: int) -> None:
        import botocore.exceptions as bx

        try:
            response = self.s3.get_object(Bucket=loc.bucket, Key=loc.key)
        except bx.ClientError as exc:
            if is_transient(exc):
                raise
            raise self._s3_client_error(exc, f"{what} {loc}", reading=True) from None
        size = response.get("ContentLength")
        if size is not None and size > limit:
            response["Body"].close()
            raise _too_large(what, limit, size)
        _write_capped(response["Body"].iter_chunks(CHUNK_BYTES), dest, what, limit)

    def _s3_client_error(self, exc: Any, what: str, *, reading: bool) -> UserError:
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

    def _fetch_http(self, url: str, dest: Path, what: str, limit: int) -> None:
        pool, response = self._open_http(url, what)
        try:
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > limit:
                raise _too_large(what, limit, int(declared))
            # Raw bytes: a Content-Encoding (gzip, br) is not undone, so a small compressed
            # body cannot inflate past the cap; audio is never sent compressed that way.
            _write_capped(response.stream(CHUNK_BYTES, decode_content=False), dest, what, limit)
        finally:
            response.close()  # stops reading: a capped download ends here, not at EOF
            pool.close()

    def _open_http(self, url: str, what: str) -> tuple[Any, Any]:
        """GET with the connection pinned to a checked address, redirects followed by hand.

        Returns (connection pool, streaming response); the caller closes both."""
        import urllib3

        for _hop in range(MAX_REDIRECTS + 1):
            parts = urlsplit(url)
            if parts.scheme == "http" and not self.settings.allow_http:
                raise InputError(f"{what}: refusing plain http:// ({redact(url)}): use https://")
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise InputError(f"{what}: unsupported URL {redact(url)!r}")
            host = parts.hostname
            port = parts.port or (443 if parts.scheme == "https" else 80)
            try:
                address = resolve_checked(host, port,
                                          allow_private=self.settings.allow_private_urls)
            except InputError as exc:
                raise InputError(f"{what}: {exc}") from None
            timeout = urllib3.Timeout(connect=self.settings.storage_timeout,
                                      read=self.settings.storage_timeout)
            if parts.scheme == "https":
                import certifi

                pool: Any = urllib3.HTTPSConnectionPool(
                    address, port, timeout=timeout, retries=False, maxsize=1,
                    server_hostname=host, assert_hostname=host, cert_reqs="CERT_REQUIRED",
                    ca_certs=self.ca_bundle or certifi.where(),
                )
            else:
                pool = urllib3.HTTPConnectionPool(address, port, timeout=timeout, retries=False,
                                                  maxsize=1)
            path = parts.path or "/"
            if parts.query:
                path += "?" + parts.query
            host_header = f"[{host}]" if ":" in host else host  # IPv6 literals in brackets
            if parts.port is not None:
                host_header += f":{parts.port}"
            try:
                response = pool.urlopen(
                    "GET", path, headers={"Host": host_header, "User-Agent": "f5-runtime"},
                    redirect=False, preload_content=False, assert_same_host=False,
                    decode_content=False,  # the cap counts bytes received, never inflated ones
                )
            except BaseException:
                pool.close()
                raise
            if response.status in (301, 302, 303, 307, 308) or response.status >= 400:
                location = response.headers.get("Location")
                status = response.status
                response.close()
                pool.close()
                if status >= 400:
                    if status in RETRYABLE_HTTP:
                        raise _TransientHTTP(status)
                    raise InputError(_http_error_message(what, url, status))
                if not location:
                    raise InputError(f"{what}: redirect without a Location from {redact(url)}")
                url = urljoin(url, location)
                continue
            return pool, response
        raise InputError(f"{what}: more than {MAX_REDIRECTS} redirects from {redact(url)}")

    def _fetch_data(self, url: str, dest: Path, what: str, limit: int) -> None:
        header, _, payload = url.partition(",")
        header = header.lower()  # scheme, media type and parameters are case-insensitive
        if not header.startswith("data:audio/") or not header.endswith(";base64"):
            raise InputError(f"{what}: a data: URI must look like data:audio/<type>;base64,...")
        payload = re.sub(r"\s+", "", payload)
        if len(payload) * 3 // 4 > limit:
            raise _too_large(what, limit, len(payload) * 3 // 4)
        try:
            data = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise InputError(f"{what}: the data: URI is not valid base64") from None
        dest.write_bytes(data)

    def _fetch_local(self, url: str, dest: Path, what: str, limit: int) -> None:
        path = Path(unquote(urlsplit(url).path) if url.startswith("file:") else url).expanduser()
        if not path.is_file():
            raise InputError(f"{what}: no such file: {path}")
        size = path.stat().st_size
        if size > limit:
            raise _too_large(what, limit, size)
        with path.open("rb") as source:
            _write_capped(iter(lambda: source.read(CHUNK_BYTES), b""), dest, what, limit)

    # --- outputs ------------------------------------------------------------------------------

    def upload(self, place: OutputPlace, name: str, data: bytes, content_type: str) -> str:
        """Put one object (retrying transient failures); returns its s3:// URL."""
        import botocore.exceptions as bx

        key = place.prefix + name
        url = place.url(name)
        try:
            self._retry(f"writing {url}", lambda: self.s3.put_object(
                Bucket=place.bucket, Key=key, Body=data, ContentType=content_type))
        except Exception as exc:
            if is_transient(exc):
                raise self._write_failed(url, exc) from exc
            if isinstance(exc, bx.ClientError):
                raise self._s3_client_error(exc, f"output {url}", reading=False) from None
            raise
        log.info("uploaded %s (%d bytes, %s)", url, len(data), content_type)
        return url

    def check_writable(self, place: OutputPlace) -> None:
        """Prove the job's outputs can be written before any GPU time is spent on them: put an
        empty object where they will go and remove it (the same errors as a real upload)."""
        self.upload(place, WRITE_CHECK, b"", "application/octet-stream")
        self.delete(place, WRITE_CHECK, quiet=True)

    def _write_failed(self, url: str, exc: BaseException) -> StorageError:
        return StorageError(
            f"could not write {url} after {self.settings.storage_attempts} attempts: "
            f"{_describe(exc)}; the storage service may be down, try again"
        )

    def presign(self, place: OutputPlace, name: str) -> str:
        return self.s3.generate_presigned_url(
            "get_object", Params={"Bucket": place.bucket, "Key": place.prefix + name},
            ExpiresIn=self.settings.presign_expiry,
        )

    def delete(self, place: OutputPlace, name: str, *, quiet: bool = False) -> bool:
        """Best effort (a few tries); False when the object could not be removed."""
        try:
            self._retry(f"deleting {place.url(name)}",
                        lambda: self.s3.delete_object(Bucket=place.bucket, Key=place.prefix + name))
        except Exception as exc:
            log.error("could not delete %s: %s", place.url(name), _describe(exc))
            return False
        if not quiet:
            log.info("deleted %s (the job failed after uploading it)", place.url(name))
        return True


class Publisher:
    """Publishes one job's outputs; `rollback()` removes what was uploaded if the job fails."""

    def __init__(self, storage: Storage, place: OutputPlace | None):
        self.storage = storage
        self.place = place
        self.uploaded: list[str] = []

    def publish(self, name: str, data: bytes, content_type: str, *, text: bool = False
                ) -> PublishedFile:
        from f5_runtime.schema import PublishedFile

        if self.place is None:
            if text:
                return PublishedFile(inline=data.decode("utf-8-sig"))
            limit = self.storage.settings.inline_max_bytes
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
        url = self.storage.upload(self.place, name, data, content_type)
        return PublishedFile(s3_url=url, presigned_url=self.storage.presign(self.place, name))

    def rollback(self) -> None:
        """Delete every object this job tried to write (best effort, logged when it fails)."""
        if self.place is None:
            return
        for name in reversed(self.uploaded):
            self.storage.delete(self.place, name)
        self.uploaded.clear()


# ---------------------------------------------------------------------------------------------


def _write_capped(chunks: Iterator[bytes], dest: Path, what: str, limit: int) -> None:
    total = 0
    with dest.open("wb") as out:
        for chunk in chunks:
            total += len(chunk)
            if total > limit:
                raise _too_large(what, limit, None)
            out.write(chunk)


def _too_large(what: str, limit: int, size: int | None) -> InputError:
    got = f" ({size / 2**20:.1f} MiB)" if size is not None else ""
    return InputError(
        f"{what} is larger than the {limit / 2**20:.0f} MiB limit{got}: send a shorter or "
        "compressed recording (F5_MAX_AUDIO_MB raises the limit)"
    )


def _http_error_message(what: str, url: str, status: int) -> str:
    if status == 404:
        return f"{what}: not found (HTTP 404) at {redact(url)}: check the URL"
    if status in (401, 403):
        return (f"{what}: access denied (HTTP {status}) at {redact(url)}: the presigned URL may "
                "have expired or be signed for another method")
    return f"{what}: the server answered HTTP {status} for {redact(url)}"
