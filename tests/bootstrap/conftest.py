"""Fixtures for the bootstrap tests: a tiny bundle locked once per session by real uv, a
temp volume per test, and a driver that runs the real `python -m f5_bootstrap` on them."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import uv

from . import standin

BOOTSTRAP = [sys.executable, "-m", "f5_bootstrap"]


@pytest.fixture(scope="session")
def uv_bin() -> str:
    return uv.find_uv_bin()


@pytest.fixture(scope="session")
def uv_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One uv cache for the session: each test's build takes wheels from it in milliseconds."""
    return tmp_path_factory.mktemp("uv-cache")


def clean_environ(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("F5_", "UV_", "VIRTUAL_ENV"))}
    env.update(UV_PYTHON_DOWNLOADS="never", **extra)
    return env


@pytest.fixture(scope="session")
def bundle(tmp_path_factory: pytest.TempPathFactory, uv_bin: str, uv_cache: Path) -> Path:
    """The stand-in workspace, locked by `uv lock` (shared: tests must not change it)."""
    path = standin.write_bundle(tmp_path_factory.mktemp("bundle"))
    standin.lock_bundle(path, uv_bin, clean_environ(UV_CACHE_DIR=str(uv_cache)))
    return path


@dataclass
class Bootstrap:
    """Runs f5-bootstrap against one temp volume, with the stand-in's report files."""

    tmp: Path
    bundle: Path
    uv_cache: Path
    volume: Path = field(init=False)

    def __post_init__(self) -> None:
        self.volume = self.tmp / "volume"
        self.events_file = self.tmp / "events.txt"
        self.worker_out = self.tmp / "worker.json"

    @property
    def root(self) -> Path:
        return self.volume / "f5tts"

    def environ(self, **overrides: str) -> dict[str, str]:
        env = clean_environ(
            F5_VOLUME=str(self.volume),
            F5_BUNDLE=str(self.bundle),
            F5_UV_CACHE_DIR=str(self.uv_cache),
            F5_FLASH_ATTN="0",
            F5_TEST_EVENTS=str(self.events_file),
            F5_TEST_WORKER_OUT=str(self.worker_out),
        )
        env.update(overrides)
        return {k: v for k, v in env.items() if v is not None}

    def run(self, *args: str, **overrides: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*BOOTSTRAP, *args],
            env=self.environ(**overrides),
            cwd=self.tmp,
            capture_output=True,
            text=True,
            timeout=240,
        )

    def popen(self, *args: str, **overrides: str) -> subprocess.Popen[str]:
        """In its own session, so that a test can signal its whole process group."""
        return subprocess.Popen(
            [*BOOTSTRAP, *args],
            env=self.environ(**overrides),
            cwd=self.tmp,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )

    def status(self, **overrides: str) -> dict:
        result = self.run("status", "--json", **overrides)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def env_id(self) -> str:
        return self.status()["current_env_id"]

    def events(self) -> list[str]:
        if not self.events_file.exists():
            return []
        return [line.rsplit(" ", 1)[0] for line in self.events_file.read_text().splitlines()]

    def builds(self) -> int:
        """Builds that got as far as the healthcheck (the stand-in logs each one)."""
        return self.events().count("healthcheck")

    def env_dirs(self) -> list[str]:
        envs = self.root / "envs"
        return sorted(p.name for p in envs.iterdir()) if envs.is_dir() else []

    def wait_for_event(self, event: str, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while event not in self.events():
            if time.monotonic() > deadline:
                raise AssertionError(f"no {event!r} event after {timeout_s} s: {self.events()}")
            time.sleep(0.05)


@pytest.fixture
def bootstrap(tmp_path: Path, bundle: Path, uv_cache: Path) -> Bootstrap:
    return Bootstrap(tmp_path, bundle, uv_cache)


@pytest.fixture
def bundle_copy(tmp_path: Path, bundle: Path) -> Iterator[Path]:
    """A private copy of the locked bundle, for tests that change it."""
    path = tmp_path / "bundle-copy"
    shutil.copytree(bundle, path)
    yield path


def kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
