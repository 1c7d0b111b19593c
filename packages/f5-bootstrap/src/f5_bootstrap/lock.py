"""An exclusive lock on the volume that a dead or hung holder cannot keep forever.

`locks/<name>.lock` is an OS lock (filelock: flock, or filelock's own fallback where flock is
missing). Beside it, `locks/<name>.holder` says who holds it (host, pid, since) and carries a
heartbeat (its mtime, touched every few seconds by a thread of the holder).

Network filesystems differ in what happens to an OS lock when its holder dies, so a waiter
also judges the holder: dead when it ran on this host and its process is gone, or when its
heartbeat has not moved for `stale_s`. A stale lock is broken by claiming the holder file
(an atomic rename: one waiter wins) and unlinking the lock file; the next attempt locks a
fresh file. Breaking can in a rare race let two processes hold the lock; the build is made
safe against that anyway (each builder works in its own staging directory).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import filelock

from f5_bootstrap.errors import BootstrapError

POLL_S = 0.5  # one attempt at the OS lock lasts this long
LOG_EVERY_S = 5.0  # waiters say who holds the lock this often
HOST = socket.gethostname()


@dataclass(frozen=True)
class Holder:
    host: str
    pid: int
    since: float  # unix time the lock was taken
    token: str  # unique per acquisition
    start: str  # the holder process's start time (/proc), to tell a reused pid apart
    what: str  # what the holder is doing, for the people waiting
    heartbeat: float = 0.0  # mtime of the holder file (not stored in it)

    def describe(self) -> str:
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.since))
        return f"{self.what} on host {self.host} pid {self.pid} since {since}"

    def to_json(self) -> dict:
        data = asdict(self)
        data.pop("heartbeat")
        return data


def holder_path(lock_path: Path) -> Path:
    return lock_path.with_suffix(".holder")


def read_holder(lock_path: Path) -> Holder | None:
    path = holder_path(lock_path)
    try:
        data = json.loads(path.read_text())
        return Holder(**data, heartbeat=path.stat().st_mtime)
    except (OSError, ValueError, TypeError):
        return None


def process_start(pid: int) -> str:
    """The process's start time in clock ticks since boot; '' when it does not exist."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    fields = stat.rsplit(")", 1)[1].split()
    return "" if fields[0] == "Z" else fields[19]  # state, ..., starttime (field 22)


def stale_reason(holder: Holder, stale_s: float) -> str | None:
    """Why this holder is dead, judged from what anyone can see now; None when it looks alive."""
    if holder.host == HOST and process_start(holder.pid) != holder.start:
        return f"its process {holder.pid} on this host is gone"
    age = time.time() - holder.heartbeat
    if age > stale_s:
        return f"no heartbeat for {age:.0f} s"
    return None


class VolumeLock:
    def __init__(
        self, path: Path, *, what: str, stale_s: float, log: Callable[[str], None] = print
    ) -> None:
        self.path = path
        self.holder_path = holder_path(path)
        self.what = what
        self.stale_s = stale_s
        self.log = log
        self.token = uuid.uuid4().hex
        self._os_lock = filelock.FileLock(str(path))
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None
        self._seen: tuple[object, float] | None = None  # (holder state, monotonic first seen)

    # -- acquiring ---------------------------------------------------------------------------
    def acquire(self, timeout_s: float) -> None:
        """Wait up to timeout_s, breaking stale holders; BootstrapError('lock') on timeout."""
        start = time.monotonic()
        next_log = start
        while True:
            if self.try_acquire():
                return
            holder = read_holder(self.path)
            now = time.monotonic()
            if now >= next_log:
                who = holder.describe() if holder else "an unknown holder"
                self.log(f"waiting for {self.path.name}: held by {who}")
                next_log = now + LOG_EVERY_S
            if now - start >= timeout_s:
                raise BootstrapError(
                    "lock",
                    f"gave up after {timeout_s:.0f} s waiting for {self.path}, held by "
                    + (holder.describe() if holder else "an unknown holder"),
                    "another builder is still working (see the volume's logs/) or is stuck; "
                    "wait and retry, raise F5_LOCK_TIMEOUT_S, or check `f5-bootstrap status`",
                )

    def try_acquire(self) -> bool:
        """One attempt (about POLL_S): take the lock, or break it if its holder is stale."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._os_lock.acquire(timeout=POLL_S, poll_interval=0.05)
        except filelock.Timeout:
            self._break_if_stale()
            return False
        holder = read_holder(self.path)
        if holder and holder.token != self.token and stale_reason(holder, self.stale_s) is None:
            # The OS granted a lock that a live holder has: OS locks do not exclude on this
            # filesystem, so the holder file decides.
            self._os_lock.release()
            self._break_if_stale()
            time.sleep(POLL_S)
            return False
        if holder:
            self.log(f"taking over {self.path.name} from {holder.describe()} (it is gone)")
        self._write_holder()
        self._stop.clear()
        self._beat = threading.Thread(target=self._heartbeat, name="lock-heartbeat", daemon=True)
        self._beat.start()
        return True

    def _break_if_stale(self) -> None:
        holder = read_holder(self.path)
        reason = stale_reason(holder, self.stale_s) if holder else None
        # A heartbeat that does not move, as seen by our own clock (hosts' clocks may differ).
        state = (holder.token, holder.heartbeat) if holder else None
        now = time.monotonic()
        if self._seen is None or self._seen[0] != state:
            self._seen = (state, now)
        elif now - self._seen[1] > self.stale_s:
            reason = reason or f"its heartbeat has not moved for {now - self._seen[1]:.0f} s"
        if reason is None:
            return
        who = holder.describe() if holder else "an unknown holder"
        self.log(f"breaking stale lock {self.path.name} held by {who}: {reason}")
        if holder is not None and not self._claim(holder):
            return
        # A fresh file is a fresh OS lock, whatever the old one's fate.
        self.path.unlink(missing_ok=True)
        self._seen = None

    def _claim(self, holder: Holder) -> bool:
        """Rename the stale holder file away; only one breaker can win that rename."""
        claimed = self.holder_path.with_name(f"{self.holder_path.name}.broken-{self.token}")
        try:
            os.rename(self.holder_path, claimed)
        except FileNotFoundError:
            return False  # another waiter broke it first
        try:
            taken = json.loads(claimed.read_text()).get("token")
        except (OSError, ValueError):
            taken = None
        if taken != holder.token:  # a new holder's file slipped in between: give it back
            os.replace(claimed, self.holder_path)
            return False
        claimed.unlink()
        return True

    # -- holding -----------------------------------------------------------------------------
    def _write_holder(self) -> None:
        holder = Holder(
            host=HOST,
            pid=os.getpid(),
            since=time.time(),
            token=self.token,
            start=process_start(os.getpid()),
            what=self.what,
        )
        staging = self.holder_path.with_name(f"{self.holder_path.name}.{self.token}")
        staging.write_text(json.dumps(holder.to_json()))
        os.replace(staging, self.holder_path)

    def _heartbeat(self) -> None:
        interval = min(10.0, max(0.2, self.stale_s / 4))
        while not self._stop.wait(interval):
            holder = read_holder(self.path)
            if holder is None or holder.token != self.token:
                self.log(f"lost {self.path.name}: another process took it over")
                return
            # On an error the next beat tries again; a missed beat or two is within stale_s.
            with contextlib.suppress(OSError):
                os.utime(self.holder_path)

    def release(self) -> None:
        self._stop.set()
        if self._beat is not None:
            self._beat.join()
            self._beat = None
        holder = read_holder(self.path)
        if holder is not None and holder.token == self.token:
            self.holder_path.unlink(missing_ok=True)
        if self._os_lock.is_locked:
            self._os_lock.release()

    def __enter__(self) -> VolumeLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def lock_holder(lock_path: Path, stale_s: float) -> Holder | None:
    """Who holds this lock now (a live holder), without taking it; for status and gc."""
    if not lock_path.exists():
        return None
    probe = filelock.FileLock(str(lock_path))
    try:
        probe.acquire(timeout=0)
    except filelock.Timeout:
        holder = read_holder(lock_path)
        return holder or Holder("?", 0, 0.0, "", "", "an unknown holder")
    probe.release()
    holder = read_holder(lock_path)
    if holder is not None and stale_reason(holder, stale_s) is None:
        return holder
    return None
