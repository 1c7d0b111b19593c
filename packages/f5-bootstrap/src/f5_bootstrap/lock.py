"""The lease: one exclusive lock protocol for every lock on the volume (env builds, the
models lock), used by f5-bootstrap and by f5-runtime's fetch-models alike.

    locks/<name>.lock     an OS lock (filelock: flock, or filelock's own fallback)
    locks/<name>.holder   JSON: who holds it (host, pid, process start, since, what), a token
                          unique to the acquisition, and `beat`, a counter the holder's
                          heartbeat thread rewrites (atomically) every HEARTBEAT_S

Network filesystems differ in what happens to an OS lock when its holder dies, so a waiter
also judges the holder, from what it can see itself:
- dead at once when the holder ran on this host and its process is gone (a killed builder);
- stale when its (token, beat) has not changed for `stale_s`, as timed by the waiter's own
  monotonic clock. File mtimes are never compared with the waiter's clock: hosts' clocks
  differ, so a live holder with a skewed clock is never broken.
A stale lock is broken by claiming the holder file (an atomic rename: one waiter wins; the
claim is given back if the holder beat meanwhile) and unlinking the lock file; the next
attempt locks a fresh file. If the OS lock is granted while a live holder's file is in
place (OS locks that do not exclude), the holder file decides. A live holder never stops its
heartbeat because its file is missing for a moment (a breaker's claim in flight); it stops
only when the file names another holder. Even a broken lock cannot corrupt a build: each
builder works in its own staging directory.
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
    beat: int = 0  # the heartbeat: rewritten +1 every HEARTBEAT_S while the lock is held

    def describe(self) -> str:
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.since))
        return f"{self.what} on host {self.host} pid {self.pid} since {since}"

    def to_json(self) -> dict:
        return asdict(self)


def holder_path(lock_path: Path) -> Path:
    return lock_path.with_suffix(".holder")


def read_holder(lock_path: Path) -> Holder | None:
    return parse_holder(holder_path(lock_path))


def parse_holder(path: Path) -> Holder | None:
    try:
        return Holder(**json.loads(path.read_text()))
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


def dead_reason(holder: Holder) -> str | None:
    """Why this holder is certainly gone, from one look; None when it may be alive."""
    if holder.host == HOST and process_start(holder.pid) != holder.start:
        return f"its process {holder.pid} on this host is gone"
    return None


def heartbeat_interval(stale_s: float) -> float:
    """A live holder beats several times within any waiter's stale timeout."""
    return min(10.0, max(0.2, stale_s / 4))


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
        self._holder: Holder | None = None  # what we wrote when we took the lock
        # The holder's (token, beat) as we last saw it, and when (our monotonic clock) we
        # first saw it that way.
        self._seen: tuple[tuple[str, int] | None, float] | None = None

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
        if holder and holder.token != self.token and dead_reason(holder) is None:
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
        reason = dead_reason(holder) if holder else None
        state = (holder.token, holder.beat) if holder else None
        now = time.monotonic()
        if self._seen is None or self._seen[0] != state:
            self._seen = (state, now)  # it moved (or is new): the clock starts again
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
        """Rename the stale holder file away; only one breaker can win that rename. Given
        back when it is not the holder we judged (a new one, or the same one that beat)."""
        claimed = self.holder_path.with_name(f"{self.holder_path.name}.broken-{self.token}")
        try:
            os.rename(self.holder_path, claimed)
        except FileNotFoundError:
            return False  # another waiter broke it first
        taken = parse_holder(claimed)
        if taken is None or (taken.token, taken.beat) != (holder.token, holder.beat):
            with contextlib.suppress(OSError):
                os.replace(claimed, self.holder_path)  # alive after all: give it back
            self._seen = None
            return False
        claimed.unlink()
        return True

    # -- holding -----------------------------------------------------------------------------
    def _write_holder(self, beat: int = 0) -> None:
        if beat == 0:
            self._holder = Holder(
                host=HOST,
                pid=os.getpid(),
                since=time.time(),
                token=self.token,
                start=process_start(os.getpid()),
                what=self.what,
            )
        assert self._holder is not None
        holder = Holder(**{**self._holder.to_json(), "beat": beat})
        staging = self.holder_path.with_name(f"{self.holder_path.name}.{self.token}")
        staging.write_text(json.dumps(holder.to_json()))
        os.replace(staging, self.holder_path)

    def _heartbeat(self) -> None:
        beat = 0
        while not self._stop.wait(heartbeat_interval(self.stale_s)):
            holder = read_holder(self.path)
            if holder is None:
                continue  # a breaker's claim in flight: it gives the file back if we beat
            if holder.token != self.token:
                self.log(f"lost {self.path.name}: another process took it over")
                return
            beat += 1
            # On an error the next beat tries again; a missed beat or two is within stale_s.
            with contextlib.suppress(OSError):
                self._write_holder(beat)

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


def lock_holder(lock_path: Path) -> Holder | None:
    """Who holds this lock now, without taking it; for status and gc. One look cannot tell a
    stale holder on another host from a live one: such a lock counts as held."""
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
    if holder is not None and dead_reason(holder) is None:
        return holder
    return None
