"""Fixtures for the HTTP server: one `f5-runtime serve` subprocess per session (test engine,
API keys), and in-process servers (real uvicorn on loopback) around an engine whose chunks a
test releases one by one, to watch streaming, cancellation and the queue from the outside."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from f5_runtime.config import Settings
from fixtures.api_server import ApiServer, start_api_server, stop_api_server
from runtime.engine_double import ToneEngines

TESTS_DIR = Path(__file__).resolve().parent.parent
KEYS = ("key-one", "key-two")
GATE_TIMEOUT = 60  # seconds a gated chunk waits for its release before failing the test


@pytest.fixture(scope="session")
def http_server(tmp_path_factory) -> Iterator[ApiServer]:
    workdir = tmp_path_factory.mktemp("http-server")
    env = {"F5_ENGINES": "runtime.engine_double:make_engines", "PYTHONPATH": str(TESTS_DIR),
           "F5_TMP_DIR": str(workdir / "jobs"), "F5_API_KEYS": ",".join(KEYS),
           "F5_MAX_TEXT_CHARS": "300", "F5_VOICES_DIR": str(workdir / "voices"),
           "F5_LOCKS_DIR": str(workdir / "locks")}
    server = start_api_server(env, workdir, "http")
    yield server
    stop_api_server(server)


OPENING = "One two three."  # the chunk that is never held (the tests' texts start with it)


class GatedEngines(ToneEngines):
    """The test engine, but every chunk but the opening sentence waits until the test lets it
    go (one `release` per chunk)."""

    def __init__(self) -> None:
        super().__init__()
        self.released = threading.Semaphore(0)
        self.generated = 0

    def generate(self, works):
        held = works[0].chunk.text != OPENING
        if held and not self.released.acquire(timeout=GATE_TIMEOUT):
            raise RuntimeError("the test never released this chunk")
        self.generated += len(works)
        return super().generate(works)

    def release(self, n: int = 1) -> None:
        for _ in range(n):
            self.released.release()


@dataclass
class LocalServer:
    url: str
    engines: GatedEngines
    server: object

    def health(self) -> dict:
        return requests.get(f"{self.url}/health", timeout=10).json()

    def wait_for(self, condition, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            health = self.health()
            if condition(health):
                return health
            time.sleep(0.05)
        raise AssertionError(f"not reached in {timeout} s: {self.health()}")


def start_local(settings: Settings, engines=None) -> tuple[LocalServer, threading.Thread]:
    import uvicorn
    from f5_runtime.serving.http.app import build_app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = build_app(settings, engines)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None,
                                           access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    return LocalServer(f"http://127.0.0.1:{port}", engines, server), thread


@pytest.fixture
def local_server(tmp_path) -> Iterator[LocalServer]:
    """A server with the gated engine, a queue of two, in this process."""
    settings = Settings.from_env({"F5_MAX_QUEUE": "2", "F5_TMP_DIR": str(tmp_path)})
    local, thread = start_local(settings, GatedEngines())
    yield local
    local.engines.release(100)
    local.server.should_exit = True
    thread.join(timeout=30)
