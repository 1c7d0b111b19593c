"""https:// (and, when allowed, http://) inputs, fetched safely.

The connection is pinned to an address the SSRF guard checked (guard.py), so DNS cannot
rebind between the check and the request, and redirects are followed by hand, each hop
checked again. Retryable statuses raise TransientHTTP (the caller retries); others become
messages that say what to check.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from f5_runtime.errors import InputError
from f5_runtime.io.capped import CHUNK_BYTES, too_large, write_capped
from f5_runtime.io.guard import resolve_checked
from f5_runtime.io.retry import RETRYABLE_HTTP, TransientHTTP
from f5_runtime.io.urls import redact

if TYPE_CHECKING:
    from pathlib import Path

    from f5_runtime.config import Settings

MAX_REDIRECTS = 5


def download(url: str, dest: Path, what: str, limit: int, settings: Settings,
             ca_bundle: str | None = None) -> None:
    """`url` into `dest`, at most `limit` bytes; one try (the caller retries)."""
    pool, response = _open(url, what, settings, ca_bundle)
    try:
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise too_large(what, limit, int(declared))
        # Raw bytes: a Content-Encoding (gzip, br) is not undone, so a small compressed
        # body cannot inflate past the cap; audio is never sent compressed that way.
        write_capped(response.stream(CHUNK_BYTES, decode_content=False), dest, what, limit)
    finally:
        response.close()  # stops reading: a capped download ends here, not at EOF
        pool.close()


def _open(url: str, what: str, settings: Settings, ca_bundle: str | None) -> tuple[Any, Any]:
    """GET with the connection pinned to a checked address, redirects followed by hand.

    Returns (connection pool, streaming response); the caller closes both."""
    import urllib3

    for _hop in range(MAX_REDIRECTS + 1):
        parts = urlsplit(url)
        if parts.scheme == "http" and not settings.allow_http:
            raise InputError(f"{what}: refusing plain http:// ({redact(url)}): use https://")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InputError(f"{what}: unsupported URL {redact(url)!r}")
        host = parts.hostname
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            address = resolve_checked(host, port, allow_private=settings.allow_private_urls)
        except InputError as exc:
            raise InputError(f"{what}: {exc}") from None
        timeout = urllib3.Timeout(connect=settings.storage_timeout, read=settings.storage_timeout)
        if parts.scheme == "https":
            import certifi

            pool: Any = urllib3.HTTPSConnectionPool(
                address, port, timeout=timeout, retries=False, maxsize=1,
                server_hostname=host, assert_hostname=host, cert_reqs="CERT_REQUIRED",
                ca_certs=ca_bundle or certifi.where(),
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
                    raise TransientHTTP(status)
                raise InputError(_error_message(what, url, status))
            if not location:
                raise InputError(f"{what}: redirect without a Location from {redact(url)}")
            url = urljoin(url, location)
            continue
        return pool, response
    raise InputError(f"{what}: more than {MAX_REDIRECTS} redirects from {redact(url)}")


def _error_message(what: str, url: str, status: int) -> str:
    if status == 404:
        return f"{what}: not found (HTTP 404) at {redact(url)}: check the URL"
    if status in (401, 403):
        return (f"{what}: access denied (HTTP {status}) at {redact(url)}: the presigned URL may "
                "have expired or be signed for another method")
    return f"{what}: the server answered HTTP {status} for {redact(url)}"
