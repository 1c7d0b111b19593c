"""A running job's control: how something outside the job (the serving layer, on another
thread) stops it and cleans up after it.

`stop(why, error)` marks the job stopped, drops its chunks queued in the engine scheduler and
runs the job's registered cleanups (delete what it uploaded, remove its temp dir) at once; the
job's own thread raises `error(why)` at its next stage (`check`) and unwinds as any failed job
does (its cleanups run again: they are idempotent). So a job abandoned while its thread is
stuck in I/O still leaves nothing behind.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from f5_runtime.errors import JobCancelled, RuntimeFailure

if TYPE_CHECKING:
    from f5_runtime.flow.scheduler import EngineScheduler, JobHandle

log = logging.getLogger(__name__)


STREAM_LOOKAHEAD = 2  # chunks a stream has queued beyond the one it delivers next


class JobControl:
    def __init__(self, *, streaming: bool = False) -> None:
        self.streaming = streaming  # its first chunk is sampled before other jobs' chunks
        # A stream asks for its chunks a few at a time, as its consumer takes them: one that
        # stops listening leaves little sampled for nobody. A batch job queues them all.
        self.lookahead: int | None = STREAM_LOOKAHEAD if streaming else None
        self.why: str | None = None
        self.error: type[RuntimeFailure] = JobCancelled
        self._handles: list[JobHandle] = []
        self._cleanups: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def check(self) -> None:
        """Raise the stop error if the job was stopped (called at every stage)."""
        if self.why is not None:
            raise self.error(self.why)

    def job(self, scheduler: EngineScheduler) -> JobHandle:
        """The job's handle in `scheduler` (cancelled with the job)."""
        handle = scheduler.open_job(streaming=self.streaming)
        with self._lock:
            self._handles.append(handle)
        if self.why is not None:
            handle.cancel(self.why)
        return handle

    def on_stop(self, cleanup: Callable[[], None]) -> None:
        with self._lock:
            self._cleanups.append(cleanup)

    def stop(self, why: str, error: type[RuntimeFailure] = JobCancelled) -> None:
        """Stop the job from outside; its cleanups run now, on the caller's thread."""
        with self._lock:
            if self.why is not None:
                return
            self.why, self.error = why, error
            handles, cleanups = list(self._handles), list(self._cleanups)
        for handle in handles:
            handle.cancel(why)
        for cleanup in reversed(cleanups):
            try:
                cleanup()
            except Exception:  # best effort: the job's own unwinding tries again
                log.warning("cleanup of a stopped job failed", exc_info=True)
