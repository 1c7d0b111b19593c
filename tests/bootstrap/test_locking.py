"""Many workers on one volume: one build, killed builders, stale and hung lock holders."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

from .conftest import Bootstrap, kill_group

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
