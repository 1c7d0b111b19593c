"""`gc` and `status --json` on a volume holding several envs in different states."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from .conftest import Bootstrap, kill_group
from .test_locking import hold_lock
from .test_run import release_with

pytestmark = pytest.mark.slow  # builds real envs with uv

HOUR_S = 3600


def fake_env(bootstrap: Bootstrap, source: Path, env_id: str, used_hours_ago: float) -> Path:
    """A copy of a built env under another env-id, last used that long ago."""
    env_dir = bootstrap.root / "envs" / env_id
    shutil.copytree(source, env_dir, symlinks=True)
    marker = json.loads((env_dir / ".f5-complete.json").read_text())
    (env_dir / ".f5-complete.json").write_text(json.dumps({**marker, "env_id": env_id}))
    then = time.time() - used_hours_ago * HOUR_S
    (env_dir / ".f5-last-used").touch()
    os.utime(env_dir / ".f5-last-used", (then, then))
    return env_dir


def test_gc_keeps_current_recent_locked_and_in_use_removes_the_rest(
    bootstrap: Bootstrap,
) -> None:
    assert bootstrap.run("provision").returncode == 0
    current = bootstrap.env_id()
    source = bootstrap.root / "envs" / current
    os.utime(source / ".f5-complete.json", (0, 0))  # the current env is kept however old
    old, recent, locked, used = "a" * 16, "b" * 16, "c" * 16, "d" * 16
    for env_id, hours in ((old, 100), (recent, 2), (locked, 100), (used, 100)):
        fake_env(bootstrap, source, env_id, hours)
    crashed = bootstrap.root / "envs" / f".staging-{'e' * 16}-12345678"
    shutil.copytree(source, crashed, symlinks=True)
    locks = bootstrap.root / "locks"
    builder = hold_lock(
        "from pathlib import Path\nfrom f5_bootstrap.lock import VolumeLock\n"
        "VolumeLock(Path(path), what='a build', stale_s=60, log=print).acquire(5)\n",
        path=str(locks / f"{locked}.lock"),
    )
    worker = hold_lock(
        "import fcntl, os\nfd = os.open(path, os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_SH)\n",
        path=str(locks / f"{used}.inuse"),
    )
    try:
        status = bootstrap.status()
        by_id = {e["env_id"]: e for e in status["envs"]}
        assert status["current_env_id"] == current and status["current_complete"]
        assert by_id[current]["current"] and by_id[current]["complete"]
        assert by_id[locked]["lock_holder"]["pid"] == builder.pid
        assert by_id[used]["in_use"] and not by_id[old]["in_use"]
        assert by_id["e" * 16]["staging"] and not by_id["e" * 16]["complete"]
        assert by_id[old]["size_bytes"] > 0

        dry = bootstrap.run("gc", "--keep-hours", "24", "--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert f"would remove {old}" in dry.stdout
        assert f"would remove {crashed.name}" in dry.stdout
        assert len(bootstrap.env_dirs()) == 6  # a dry run removes nothing

        result = bootstrap.run("gc", "--keep-hours", "24")
        assert result.returncode == 0, result.stderr
        assert f"keep   {current} (current)" in result.stdout
        assert f"keep   {locked} (its lock is held)" in result.stdout
        assert f"keep   {used} (a running worker uses it)" in result.stdout
        assert bootstrap.env_dirs() == sorted([current, recent, locked, used])
    finally:
        kill_group(builder)
        kill_group(worker)
    # Once nothing holds them, the old ones go too; then a shorter keep removes the recent one.
    bootstrap.run("gc", "--keep-hours", "24")
    assert bootstrap.env_dirs() == sorted([current, recent])
    bootstrap.run("gc", "--keep-hours", "1")
    assert bootstrap.env_dirs() == [current]
    subprocess.run([source / "bin" / "python", "-c", "import six"], check=True)


def test_running_worker_holds_its_env_against_gc(bootstrap: Bootstrap) -> None:
    """The in-use lock taken by `run` is inherited by the exec'd worker."""
    assert bootstrap.run("provision").returncode == 0
    env_id = bootstrap.env_id()
    # A worker that stays up: the stand-in's worker, but sleeping after its report.
    sitecustomize = bootstrap.tmp / "sleep" / "sitecustomize.py"
    sitecustomize.parent.mkdir()
    sitecustomize.write_text(
        "import atexit, os, time\n"
        "if os.environ.get('F5_ENV_ID'):\n    atexit.register(time.sleep, 300)\n"
    )
    worker = bootstrap.popen("run", PYTHONPATH=str(sitecustomize.parent))
    try:
        deadline = time.monotonic() + 60
        while not bootstrap.worker_out.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert bootstrap.status()["envs"][0]["in_use"]
        # With flash-attn chosen, this env is no longer current; gc must still keep it.
        result = bootstrap.run("gc", "--keep-hours", "0", F5_FLASH_ATTN="1")
        assert result.returncode == 0, result.stderr
        assert f"keep   {env_id} (a running worker uses it)" in result.stdout
        assert bootstrap.env_dirs() == [env_id]
    finally:
        kill_group(worker)
    result = bootstrap.run("gc", "--keep-hours", "0", F5_FLASH_ATTN="1")
    assert f"remove {env_id}" in result.stdout
    assert bootstrap.env_dirs() == []


def test_status_of_an_empty_volume(bootstrap: Bootstrap) -> None:
    status = bootstrap.status()
    assert status["volume"] == str(bootstrap.volume)
    assert status["bundle"] == str(bootstrap.bundle)
    assert len(status["current_env_id"]) == 16
    assert status["current_complete"] is False and status["envs"] == []
    text = bootstrap.run("status")
    assert text.returncode == 0 and "(not built)" in text.stdout


def test_gc_removes_old_code_dirs_never_the_current_or_one_in_use(
    bootstrap: Bootstrap, bundle_copy: Path
) -> None:
    assert bootstrap.run("provision").returncode == 0
    old = bootstrap.status()["current_code_id"]
    release_with(bundle_copy, "Release 2.")
    new_release = {"F5_BUNDLE": str(bundle_copy)}
    assert bootstrap.run("provision", **new_release).returncode == 0
    new = bootstrap.status(**new_release)["current_code_id"]
    worker = hold_lock(
        "import fcntl, os\nfd = os.open(path, os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_SH)\n",
        path=str(bootstrap.root / "locks" / f"code-{old}.inuse"),
    )
    try:
        by_id = {c["code_id"]: c for c in bootstrap.status(**new_release)["code"]}
        assert by_id[old]["in_use"] and by_id[new]["current"] and by_id[new]["complete"]
        result = bootstrap.run("gc", "--keep-hours", "0", **new_release)
        assert result.returncode == 0, result.stderr
        assert f"keep   code/{new} (current)" in result.stdout
        assert f"keep   code/{old} (a running worker uses it)" in result.stdout
    finally:
        kill_group(worker)
    result = bootstrap.run("gc", "--keep-hours", "0", **new_release)
    assert f"remove code/{old}" in result.stdout
    assert sorted(p.name for p in (bootstrap.root / "code").iterdir()) == [new]
    assert bootstrap.status(**new_release)["current_complete"]  # the env is kept: it is current
