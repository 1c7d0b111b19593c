"""SIGTERM during a job: the job may finish within a grace time, else it is abandoned cleanly.

RunPod stops a worker with SIGTERM and kills it (SIGKILL) a little later. Whoever serves the
handler has installed its own SIGTERM handler by the time a job runs: the RunPod SDK's job
loop (stop taking jobs, let running ones finish, exit), uvicorn under `serve` (stop accepting,
let requests finish, exit), or ours in the SDK's `--test_input` mode (exit at once). None of
them bounds the running job, and a SIGKILL mid-job leaves uploaded outputs in the bucket.

So while a job runs, `job_stop_guard` puts a handler in front of the installed one: it passes
the signal on (the loop still stops after this job) and arms a timer of `grace` seconds. A job
still running when the timer fires gets `WorkerStopping` raised inside it and unwinds like any
failed job: uploaded outputs deleted, temp dir removed, an error result that says to retry.
Handlers run in the main thread, where the SDK and uvicorn call a synchronous handler. The
concurrent worker's jobs run on threads of their own: concurrent.py bounds them its own way.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from f5_runtime.errors import WorkerStopping

log = logging.getLogger(__name__)


STOPPED_MESSAGE = ("the worker was stopped (SIGTERM) before this job finished; its outputs "
                   "were removed: retry the job")


def _abandon(signum: int, frame: Any) -> None:
    raise WorkerStopping(STOPPED_MESSAGE)


@contextmanager
def job_stop_guard(grace: float) -> Iterator[None]:
    """Within this block, SIGTERM leaves the job `grace` seconds, then abandons it."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread can handle signals; the serving loop's handler stays
        return
    previous = signal.getsignal(signal.SIGTERM)
    previous_alarm = signal.getsignal(signal.SIGALRM)

    def on_sigterm(signum: int, frame: Any) -> None:
        log.warning("SIGTERM during a job: it may finish within %.1f s, else it is abandoned "
                    "and cleaned up", grace)
        if grace > 0:
            signal.signal(signal.SIGALRM, _abandon)
            signal.setitimer(signal.ITIMER_REAL, grace)
        if callable(previous):
            previous(signum, frame)  # the serving loop's own shutdown (it may exit at once)
        elif previous == signal.SIG_DFL:
            raise SystemExit(128 + signum)  # the default would die here, without cleaning up
        if grace <= 0:
            _abandon(signum, frame)

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_alarm)
        signal.signal(signal.SIGTERM, previous)
