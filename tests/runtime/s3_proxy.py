"""A tiny HTTP proxy in front of the moto server that injects S3 faults at the network layer.

Real boto3 talks real HTTP to it; it forwards everything to moto unless a rule says otherwise:
`deny_buckets` answer 403 AccessDenied (moto does not enforce permissions), PUTs whose key
ends with one of `fail_put_suffixes` answer 503 SlowDown (a throttled or failing upload), and
PUTs whose key ends with one of `hang_put_suffixes` reach moto (the object lands) but get no
answer for `hang_seconds` (a client read timeout after a successful write), then the
connection is closed, or answered when `hang_answers` (a slow upload).
Every request is recorded as (method, path) so tests can count retries.
"""

from __future__ import annotations

import http.client
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-connection"}


def s3_error(code: str, message: str) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
            f"<Message>{message}</Message><RequestId>proxy</RequestId></Error>").encode()


class FaultyS3Proxy:
    def __init__(self, upstream: str):
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname, parts.port)
        self.deny_buckets: set[str] = set()
        self.fail_put_suffixes: set[str] = set()
        self.hang_put_suffixes: set[str] = set()
        self.hang_seconds = 3.0
        self.hang_answers = False
        self.requests: list[tuple[str, str]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    data = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return data
                        data += self.rfile.read(size)
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _reply(self, status: int, body: bytes, headers: list[tuple[str, str]]) -> None:
                self.send_response(status)
                for name, value in headers:
                    if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _handle(self) -> None:
                body = self._body()
                path = urlsplit(self.path).path
                proxy.requests.append((self.command, path))
                bucket = path.lstrip("/").split("/", 1)[0]
                if bucket in proxy.deny_buckets:
                    return self._reply(403, s3_error("AccessDenied", "Access Denied"),
                                       [("Content-Type", "application/xml")])
                if self.command == "PUT" and path.endswith(tuple(proxy.fail_put_suffixes)):
                    return self._reply(503, s3_error("SlowDown", "Please reduce your rate"),
                                       [("Content-Type", "application/xml")])
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in HOP_BY_HOP and k.lower() != "content-length"}
                if body or self.command in ("PUT", "POST"):
                    headers["Content-Length"] = str(len(body))
                upstream = http.client.HTTPConnection(*proxy.upstream, timeout=30)
                try:
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    response = upstream.getresponse()
                    data = response.read()
                    if self.command == "PUT" and path.endswith(tuple(proxy.hang_put_suffixes)):
                        time.sleep(proxy.hang_seconds)  # landed; the client times out first
                        if not proxy.hang_answers:
                            self.close_connection = True
                            return None
                    self._reply(response.status, data, response.getheaders())
                finally:
                    upstream.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> FaultyS3Proxy:
        self.thread.start()
        return self

    def clear(self) -> None:
        self.deny_buckets.clear()
        self.fail_put_suffixes.clear()
        self.hang_put_suffixes.clear()
        self.hang_answers = False
        self.requests.clear()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
