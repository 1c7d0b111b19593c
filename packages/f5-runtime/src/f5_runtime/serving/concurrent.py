"""Concurrent jobs on the queue worker: an async handler for the RunPod SDK.

The SDK runs each job as an asyncio task and takes up to `concurrency_modifier()` jobs at once
(F5_CONCURRENCY; default from GPU memory, engines/device.py). A synchronous handler would run
on the event loop, one job at a time; `AsyncHandler` runs each job's whole flow (fetch, CPU
stages, waiting on its chunks in the engine scheduler, publishing) on a thread of its own and
only awaits it, so one job's CPU stages overlap another's sampling, and the chunks of all
running jobs share batches on the device (flow/scheduler.py).

Per-job guarantees are the synchronous handler's (worker.Handler, which each thread runs):
own temp dir, nothing half-written, clear errors, refresh_worker only for a broken device.
Two ways a job ends early, both through its JobControl (flow/control.py), which drops its
queued chunks, deletes what it uploaded and removes its temp dir at once:
- RunPod stops the job (its stop channel cancels the task): `asyncio.CancelledError` stops the
  job and is re-raised;
- SIGTERM: `SigtermGrace` passes the signal on to the SDK (it takes no new job) and gives the
  running jobs F5_STOP_GRACE_S; those still running then are abandoned with an error that says
  to retry. Their threads are daemons: one stuck in I/O does not hold the worker's exit.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from typing import TYPE_CHECKING, Any

from f5_runtime.errors import JobCancelled, WorkerStopping
from f5_runtime.flow.control import JobControl
from f5_runtime.serving.shutdown import STOPPED_MESSAGE

if TYPE_CHECKING:
    from f5_runtime.flow.job import PieceCallback

log = logging.getLogger(__name__)


class SigtermGrace:
    """SIGTERM while jobs run: pass it on, then abandon the jobs still running after `grace`.
    Installed in front of the serving loop's handler while any job runs (main thread only)."""

    def __init__(self, grace: float) -> None:
        self.grace = grace
        self.running: dict[JobControl, asyncio.Future] = {}
        self._previous: Any = None
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def enter(self, control: JobControl, abandoned: asyncio.Future) -> None:
        if not self.running and threading.current_thread() is threading.main_thread():
            self._loop = asyncio.get_running_loop()
            self._previous = signal.getsignal(signal.SIGTERM)
            signal.signal(signal.SIGTERM, self._on_sigterm)
        self.running[control] = abandoned

    def leave(self, control: JobControl) -> None:
        self.running.pop(control, None)
        if not self.running and self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)
            self._previous = None
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def _on_sigterm(self, signum: int, frame: Any) -> None:
        log.warning("SIGTERM during a job: it may finish within %.1f s, else it is abandoned "
                    "and cleaned up", self.grace)
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._arm)
        previous = self._previous
        if callable(previous):
            previous(signum, frame)  # the serving loop's own shutdown: it takes no new job
        elif previous == signal.SIG_DFL:
            raise SystemExit(128 + signum)

    def _arm(self) -> None:
        if self._timer is None and self._loop is not None:
            self._timer = self._loop.call_later(self.grace, self._abandon)

    def _abandon(self) -> None:
        self._timer = None
        for control, abandoned in list(self.running.items()):
            control.stop(STOPPED_MESSAGE, WorkerStopping)
            if not abandoned.done():
                abandoned.set_result(None)


class AsyncHandler:
    """The RunPod handler of a concurrent worker: `await handler(job)` -> the result dict."""

    def __init__(self, handler: Any, concurrency: int) -> None:
        # `handler`: worker.Handler (run(job, control) -> result; error(exc, job_id) -> result)
        self.handler = handler
        self.concurrency = concurrency
        self.grace = SigtermGrace(handler.settings.stop_grace_seconds)

    def concurrency_modifier(self, current: int) -> int:
        return self.concurrency

    async def __call__(self, job: dict[str, Any]) -> dict[str, Any]:
        return await self.run(job)

    async def run(self, job: dict[str, Any], on_piece: PieceCallback | None = None,
                  control: JobControl | None = None) -> dict[str, Any]:
        """The job's result dict; `on_piece` (called on the job's thread) makes it a stream,
        whose first chunk is sampled before other jobs' chunks. `control`: the caller's, to
        stop the job on its own terms too (the HTTP server's time limit)."""
        job_id = str(job.get("id") or "local")
        loop = asyncio.get_running_loop()
        control = control or JobControl(streaming=on_piece is not None)
        finished: asyncio.Future = loop.create_future()
        abandoned: asyncio.Future = loop.create_future()

        def settle(future: asyncio.Future, result: Any, exc: BaseException | None) -> None:
            if future.done():
                return
            if exc is not None:
                future.set_exception(exc)
            else:
                future.set_result(result)

        def work() -> None:
            try:
                result = self.handler.run(job, control, on_piece=on_piece)
            except BaseException as exc:  # (the handler returns errors; this is a bug)
                loop.call_soon_threadsafe(settle, finished, None, exc)
            else:
                loop.call_soon_threadsafe(settle, finished, result, None)

        self.grace.enter(control, abandoned)
        threading.Thread(target=work, name=f"f5-job-{job_id}", daemon=True).start()
        try:
            await asyncio.wait({finished, abandoned}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            log.info("job %s cancelled: dropping its chunks, removing its outputs", job_id)
            control.stop("the job was cancelled", JobCancelled)
            raise
        finally:
            self.grace.leave(control)
        if finished.done():
            return finished.result()
        return self.handler.error(WorkerStopping(control.why or STOPPED_MESSAGE), job_id)
