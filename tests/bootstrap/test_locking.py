"""Many workers on one volume: one build, killed builders, stale and hung lock holders."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from f5_bootstrap.errors import BootstrapError
from f5_bootstrap.lock import VolumeLock, read_holder

from .conftest import Bootstrap, kill_group

pytestmark = pytest.mark.slow  # builds real envs with uv

RACERS = 6


def hold_lock(script: str, **values: object) -> subprocess.Popen[str]:
    """A helper process that takes a lock as `script` says, prints 'held' and sleeps."""
    code = "".join(f"{k} = {v!r}\n" for k, v in values.items()) + script
    code += "\nprint('held', flush=True)\nimport time\ntime.sleep(300)\n"
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_racing_provisions_build_once(bootstrap: Bootstrap) -> None:
    procs = [bootstrap.popen("provision") for _ in range(RACERS)]
    outputs = [proc.communicate(timeout=240)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * RACERS, outputs
    assert bootstrap.builds() == 1
    env_id = bootstrap.env_id()
    assert bootstrap.env_dirs() == [env_id]  # no staging directory left behind
    assert sum("sync done" in out for out in outputs) == 1
    waited = [out for out in outputs if "sync done" not in out]
    assert all("complete" in out for out in waited), waited


def test_killed_builder_is_cleaned_up_by_the_next(bootstrap: Bootstrap) -> None:
    builder = bootstrap.popen("provision", F5_TEST_HEALTHCHECK_SLEEP="300")
    try:
        bootstrap.wait_for_event("healthcheck-sleeping")
        during = bootstrap.status()
        [entry] = during["envs"]
        assert entry["staging"] and not entry["complete"]
        assert entry["lock_holder"]["pid"] == builder.pid
    finally:
        kill_group(builder)  # SIGKILL: no cleanup runs
    [half_built] = bootstrap.env_dirs()
    assert half_built.startswith(".staging-")
    result = bootstrap.run("provision")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"removing half-built {half_built}" in result.stdout
    assert bootstrap.env_dirs() == [bootstrap.env_id()]
    assert bootstrap.status()["current_complete"]


def test_lock_of_a_dead_process_is_taken_over_at_once(bootstrap: Bootstrap) -> None:
    """The OS lock is still held (as on a filesystem that does not release it), and the
    holder file names a process of this host that is gone: no need to wait for staleness."""
    env_id = bootstrap.env_id()
    dead = subprocess.Popen(["true"])
    dead.wait()
    lock = bootstrap.root / "locks" / f"{env_id}.lock"
    holder = {
        "host": socket.gethostname(),
        "pid": dead.pid,
        "since": time.time(),
        "token": "dead-builder",
        "start": "1",
        "what": "a builder that died",
    }
    script = (
        "import fcntl, json, os\n"
        "os.makedirs(os.path.dirname(lock), exist_ok=True)\n"
        "fd = os.open(lock, os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "open(lock[:-5] + '.holder', 'w').write(json.dumps(holder))\n"
    )
    keeper = hold_lock(script, lock=str(lock), holder=holder)
    try:
        result = bootstrap.run("provision", F5_LOCK_STALE_S="600", F5_LOCK_TIMEOUT_S="120")
    finally:
        kill_group(keeper)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"its process {dead.pid} on this host is gone" in result.stdout
    assert bootstrap.status()["current_complete"]


def test_hung_holder_is_taken_over_after_the_stale_timeout(bootstrap: Bootstrap) -> None:
    """A holder that stops (heartbeat and all) while its OS lock stays held."""
    stale = {"F5_LOCK_STALE_S": "1.5", "F5_LOCK_TIMEOUT_S": "120"}
    hung = bootstrap.popen("provision", F5_TEST_HEALTHCHECK_SLEEP="300", **stale)
    try:
        bootstrap.wait_for_event("healthcheck-sleeping")
        os.killpg(hung.pid, signal.SIGSTOP)
        result = bootstrap.run("provision", F5_TEST_HEALTHCHECK_SLEEP="", **stale)
    finally:
        kill_group(hung)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"waiting for {bootstrap.env_id()}.lock: held by building env" in result.stdout
    assert f"pid {hung.pid}" in result.stdout
    assert "breaking stale lock" in result.stdout
    assert bootstrap.builds() == 2
    assert bootstrap.status()["current_complete"]


def test_waiter_gives_up_with_a_clear_error(bootstrap: Bootstrap) -> None:
    env_id = bootstrap.env_id()
    script = (
        "from pathlib import Path\n"
        "from f5_bootstrap.lock import VolumeLock\n"
        "lock = VolumeLock(Path(path), what='a long build', stale_s=2, log=lambda m: None)\n"
        "lock.acquire(10)\n"
    )
    keeper = hold_lock(script, path=str(bootstrap.root / "locks" / f"{env_id}.lock"))
    try:
        result = bootstrap.run("provision", F5_LOCK_STALE_S="2", F5_LOCK_TIMEOUT_S="3")
        status = bootstrap.status()
    finally:
        kill_group(keeper)
    assert result.returncode == 4
    assert "lock failed: gave up after 3 s" in result.stderr
    assert f"held by a long build on host {socket.gethostname()} pid {keeper.pid}" in result.stderr
    assert "hint:" in result.stderr
    assert "waiting for" in result.stdout
    assert bootstrap.env_dirs() == []  # the waiter built nothing
    assert not status["current_complete"]
    log = bootstrap.root / "logs" / f"provision-{env_id}.log"
    assert "waiting for" in log.read_text()


def test_terminated_builder_cleans_up_after_itself(bootstrap: Bootstrap) -> None:
    """SIGTERM (RunPod stopping a worker): the build unwinds, the staging dir goes."""
    builder = bootstrap.popen("provision", F5_TEST_HEALTHCHECK_SLEEP="300")
    try:
        bootstrap.wait_for_event("healthcheck-sleeping")
        assert bootstrap.env_dirs()[0].startswith(".staging-")
        builder.send_signal(signal.SIGTERM)
        builder.wait(timeout=30)
    finally:
        kill_group(builder)
    assert builder.returncode == 128 + signal.SIGTERM
    assert bootstrap.env_dirs() == []
    assert bootstrap.status()["envs"] == []


OTHER_HOST_HOLDER = """
import fcntl, json, os, time
os.makedirs(os.path.dirname(lock), exist_ok=True)
fd = os.open(lock, os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
holder = lock[:-5] + '.holder'

def beat(n):
    body = {"host": "another-host", "pid": 1, "since": time.time(), "token": "remote",
            "start": "", "what": "a holder on another host", "beat": n}
    with open(holder + '.tmp', 'w') as f:
        f.write(json.dumps(body))
    os.replace(holder + '.tmp', holder)
    os.utime(holder, (time.time() + skew, time.time() + skew))  # its clock is off

beat(0)
import threading
def beating():
    n = 0
    while True:
        time.sleep(0.2)
        n += 1
        beat(n)
threading.Thread(target=beating, daemon=True).start()
"""


@pytest.mark.parametrize("skew", [3600.0, -3600.0], ids=["clock-ahead", "clock-behind"])
def test_live_holder_with_a_skewed_clock_is_not_broken(tmp_path: Path, skew: float) -> None:
    """The waiter judges only whether the heartbeat moves, never the holder file's mtime."""
    lock_path = tmp_path / "locks" / "models.lock"
    holder = hold_lock(OTHER_HOST_HOLDER, lock=str(lock_path), skew=skew)
    lines: list[str] = []
    try:
        waiter = VolumeLock(lock_path, what="a waiter", stale_s=1.0, log=lines.append)
        with pytest.raises(BootstrapError, match="gave up after 4 s"):
            waiter.acquire(4.0)  # 4 x the stale timeout
        assert read_holder(lock_path).token == "remote"
    finally:
        kill_group(holder)
    assert not any("breaking" in line for line in lines), lines


def test_killed_holder_on_another_host_is_taken_over(tmp_path: Path) -> None:
    """No pid to check on another host: its heartbeat stops, and after the stale timeout
    (by the waiter's own clock) the lock is taken over."""
    lock_path = tmp_path / "locks" / "models.lock"
    holder = hold_lock(OTHER_HOST_HOLDER, lock=str(lock_path), skew=0.0)
    kill_group(holder)  # SIGKILL: the holder file stays, its beat stops
    lines: list[str] = []
    waiter = VolumeLock(lock_path, what="a waiter", stale_s=1.0, log=lines.append)
    started = time.monotonic()
    waiter.acquire(30)
    try:
        assert read_holder(lock_path).token == waiter.token
    finally:
        waiter.release()
    assert time.monotonic() - started >= 1.0  # not before the stale timeout
    assert any("its heartbeat has not moved" in line for line in lines), lines


def test_a_breakers_claim_does_not_stop_a_live_holders_heartbeat(tmp_path: Path) -> None:
    """A breaker renames the holder file away to claim it, sees that it is not the holder it
    judged stale, and gives it back: the holder keeps beating throughout."""
    lock_path = tmp_path / "locks" / "env.lock"
    lock = VolumeLock(lock_path, what="a live holder", stale_s=0.8, log=lambda m: None)
    lock.acquire(5)
    try:
        holder_file = lock_path.with_suffix(".holder")
        claimed = holder_file.with_name("claimed")
        os.rename(holder_file, claimed)
        time.sleep(0.6)  # a few heartbeats find no file
        os.replace(claimed, holder_file)
        before = read_holder(lock_path).beat
        time.sleep(0.8)
        assert read_holder(lock_path).beat > before, "the heartbeat stopped"
    finally:
        lock.release()
    assert not lock_path.with_suffix(".holder").exists()
