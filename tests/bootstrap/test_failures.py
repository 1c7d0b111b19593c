"""Failures name their step, exit non-zero and leave no marker; flash-attn never fails a build."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from f5_bootstrap.build import Builder
from f5_bootstrap.config import Config
from f5_bootstrap.errors import BootstrapError
from f5_bootstrap.layout import Layout
from f5_bootstrap.progress import Progress

from . import standin
from .conftest import Bootstrap

pytestmark = pytest.mark.slow  # builds real envs with uv

DEAD_INDEX = "http://127.0.0.1:9"  # nothing listens on the discard port


def no_env_left(bootstrap: Bootstrap) -> bool:
    return bootstrap.env_dirs() == []


def test_unreachable_index_fails_the_sync_step(bootstrap: Bootstrap, bundle_copy: Path) -> None:
    """A bundle whose lock points at an index that cannot be reached."""
    index = f'\n[[tool.uv.index]]\nname = "dead"\nurl = "{DEAD_INDEX}/simple"\ndefault = true\n'
    standin.write_bundle(bundle_copy, root_extra=index)
    lock = bundle_copy / "uv.lock"
    text = lock.read_text().replace("https://pypi.org/simple", f"{DEAD_INDEX}/simple")
    lock.write_text(text.replace("https://files.pythonhosted.org", DEAD_INDEX))
    result = bootstrap.run("provision", F5_BUNDLE=str(bundle_copy), UV_HTTP_RETRIES="0")
    assert result.returncode == 5, result.stdout + result.stderr
    assert "f5-bootstrap: sync failed: `" in result.stderr
    assert "127.0.0.1:9" in result.stderr  # uv's own words are quoted in the error
    assert "hint: check access to the package index" in result.stderr
    assert no_env_left(bootstrap)
    assert bootstrap.events() == []
    assert not bootstrap.status(F5_BUNDLE=str(bundle_copy))["current_complete"]


def test_failed_healthcheck_leaves_no_env(bootstrap: Bootstrap) -> None:
    result = bootstrap.run("provision", F5_TEST_HEALTHCHECK_EXIT="3")
    assert result.returncode == 6
    assert "healthcheck failed: `" in result.stderr and "exited 3" in result.stderr
    assert no_env_left(bootstrap)
    assert "fetch-models" not in " ".join(bootstrap.events())
    # The next attempt, with a healthy runtime, succeeds from scratch.
    assert bootstrap.run("provision").returncode == 0
    assert bootstrap.status()["current_complete"]


def test_unreachable_flash_attn_wheel_does_not_fail_the_build(bootstrap: Bootstrap) -> None:
    url = f"{DEAD_INDEX}/flash_attn-2.8.3-py3-none-any.whl"
    result = bootstrap.run(
        "provision", F5_FLASH_ATTN="1", F5_FLASH_ATTN_URL=url, UV_HTTP_RETRIES="0"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "flash-attn is not usable; the runtime will use PyTorch attention" in result.stdout
    [env] = bootstrap.status(F5_FLASH_ATTN="1", F5_FLASH_ATTN_URL=url)["envs"]
    assert env["current"] and env["complete"]
    assert env["flash_attn"]["installed"] is False
    assert env["flash_attn"]["url"] == url
    log = bootstrap.root / "logs" / f"provision-{env['env_id']}.log"
    assert "flash-attn is not usable" in log.read_text()


BROKEN = 'raise ImportError("flash_attn was built for another torch")\n'
WORKING = "__version__ = '2.8.3'\n"


@pytest.mark.parametrize(
    ("source", "hash_kind", "installed"),
    [
        (WORKING, None, True),
        (WORKING, "right", True),
        (BROKEN, None, False),
    ],
    ids=["works", "right-hash", "broken-import"],
)
def test_flash_attn_wheel_is_kept_only_when_it_imports(
    bootstrap: Bootstrap, tmp_path: Path, source: str, hash_kind: str | None, installed: bool
) -> None:
    wheel = standin.build_wheel(tmp_path, name="flash_attn", version="2.8.3", init_source=source)
    settings = {"F5_FLASH_ATTN": "1", "F5_FLASH_ATTN_URL": str(wheel)}
    if hash_kind:
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        settings["F5_FLASH_ATTN_SHA256"] = digest if hash_kind == "right" else "0" * 64
    result = bootstrap.run("provision", **settings)
    assert result.returncode == 0, result.stdout + result.stderr
    [env] = bootstrap.status(**settings)["envs"]
    assert env["complete"] and env["flash_attn"]["installed"] is installed
    python = Path(env["path"]) / "bin" / "python"
    imported = subprocess.run([python, "-c", "import flash_attn"], capture_output=True, text=True)
    assert (imported.returncode == 0) is installed, imported.stderr
    if source == BROKEN:
        assert "another torch" in result.stdout  # the import error is in the log
        assert "Uninstalled 1 package" in result.stdout
        assert "ModuleNotFoundError" in imported.stderr
    marker = json.loads((Path(env["path"]) / ".f5-complete.json").read_text())
    assert marker["extras"] == [f"flash-attn={wheel}"]


def test_a_silent_hung_tool_times_out(tmp_path: Path) -> None:
    """The timeout runs while the tool prints nothing (output is read by another thread)."""
    config = Config.from_env({"F5_VOLUME": str(tmp_path)})
    builder = Builder(config, tmp_path, Layout(config.root), "0" * 16, Progress(None))
    started = time.monotonic()
    with pytest.raises(BootstrapError, match="timed out after 1 s"):
        builder.run_tool("healthcheck", [sys.executable, "-c", "import time; time.sleep(60)"],
                         env={}, timeout_s=1)
    assert time.monotonic() - started < 30


def test_flash_attn_wheel_with_a_wrong_sha256_fails_the_build(
    bootstrap: Bootstrap, tmp_path: Path
) -> None:
    """The operator named the wheel's sha256: another wheel is an error, not a fallback."""
    wheel = standin.build_wheel(tmp_path, name="flash_attn", version="2.8.3", init_source=WORKING)
    result = bootstrap.run(
        "provision", F5_FLASH_ATTN="1", F5_FLASH_ATTN_URL=str(wheel), F5_FLASH_ATTN_SHA256="0" * 64
    )
    assert result.returncode == 11, result.stdout + result.stderr
    assert "flash-attn failed: the flash-attn wheel at" in result.stderr
    assert f"does not match F5_FLASH_ATTN_SHA256={'0' * 64}" in result.stderr
    assert "hint: check F5_FLASH_ATTN_URL and F5_FLASH_ATTN_SHA256" in result.stderr
    assert no_env_left(bootstrap)


def pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_timed_out_tool_is_killed_with_its_children(tmp_path: Path) -> None:
    """uv runs children (builds, compilers): on a timeout the whole process group goes, so
    nothing keeps writing into a staging dir that is being removed."""
    config = Config.from_env({"F5_VOLUME": str(tmp_path)})
    builder = Builder(config, tmp_path, Layout(config.root), "0" * 16, Progress(None))
    pid_file = tmp_path / "child.pid"
    tool = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(120)\n"
    )
    with pytest.raises(BootstrapError, match="timed out after 2 s"):
        builder.run_tool("sync", [sys.executable, "-c", tool], env={}, timeout_s=2)
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while pid_alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pid_alive(child), f"the tool's child {child} outlived the timeout"
