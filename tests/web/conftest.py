"""One `f5-runtime serve` on the dummy tiny engines and one headless chromium per session.

The server requires a bearer key (`F5_API_KEYS`), so the page has to ask for it on its first
401, as it would on a protected endpoint. The browser is started first: where chromium
cannot run, the tests skip (with the reason) before a server is started for nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fixtures.api_server import free_port

from web.browser import chromium_missing, start_browser, stop_browser

API_KEY = "page-test-key"
START_TIMEOUT = 180  # seconds: imports plus dummy engines on two shared cores


@dataclass
class WebServer:
    url: str
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def get(self, route: str, key: str | None = API_KEY):
        import requests

        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return requests.get(f"{self.url}{route}", headers=headers, timeout=30)

    def post(self, route: str, **kwargs):
        import requests

        headers = {"Authorization": f"Bearer {API_KEY}"}
        return requests.post(f"{self.url}{route}", headers=headers, timeout=120, **kwargs)


def _wait_ready(server: WebServer) -> None:
    import requests

    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"f5-runtime serve exited ({server.process.returncode}):\n"
                               f"{server.log()}")
        try:
            # /ping: 204 while the engines load, 200 once they serve.
            if server.get("/ping").status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"f5-runtime serve was not ready in {START_TIMEOUT} s:\n{server.log()}")


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    reason = chromium_missing()
    if reason:
        pytest.skip(reason)
    downloads = tmp_path_factory.mktemp("downloads")
    driver = start_browser(downloads)
    driver.download_dir = downloads
    yield driver
    stop_browser(driver)


@pytest.fixture(scope="session")
def web_server(browser, tmp_path_factory) -> Iterator[WebServer]:
    work = tmp_path_factory.mktemp("web-server")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNPOD_")}
    env.update({
        "PYTHONUNBUFFERED": "1",
        "F5_LOAD_FORMAT": "dummy",
        "F5_TTS_MODEL": "tiny",
        "F5_DEVICE": "cpu",
        "F5_VOLUME": str(work / "volume"),
        "F5_API_KEYS": API_KEY,
    })
    port = free_port()
    log_path = work / "serve.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "f5_runtime", "serve", "--host", "127.0.0.1",
             "--port", str(port)],
            cwd=work, env=env, stdout=log_file, stderr=subprocess.STDOUT,
        )
    server = WebServer(f"http://127.0.0.1:{port}", process, log_path)
    try:
        _wait_ready(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def reference_wav() -> Path:
    """A real recording of one speaker, shipped with f5-tts (a namespace package)."""
    import f5_tts

    return Path(f5_tts.__path__[0]) / "infer/examples/basic/basic_ref_en.wav"


@pytest.fixture
def downloads(browser) -> Path:
    """The browser's download folder, emptied for each test."""
    for path in browser.download_dir.iterdir():
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    return browser.download_dir
