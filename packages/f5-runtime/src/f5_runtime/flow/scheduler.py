"""The engine scheduler: the one owner of the device, taking chunks from every running job.

    job threads ── submit(chunks) ──> queue ──> device thread: pick a batch ─ generate ─ vocode
        ^                                                                          │
        └──────────── each chunk's ticket: `generated`, then `done` (its waveform) ┘

One thread runs all engine work on the device; jobs (the queue worker's, the HTTP server's,
the CLI's) run their CPU stages on their own threads and wait only on their chunks' tickets.
A batch is formed at each step, as TGI's router and vLLM's scheduler do with tokens:
- the head is the most urgent chunk: a streaming job's first chunk (time to first audio),
  then the oldest job's earliest chunk;
- it takes the chunks, of any job, that share its steps, guidance and sway (`batch_key`), in
  the same order, while batch size x longest window stays within `batch_frames` mel frames
  (0: one chunk per call); a job's chunks go in text order (one that does not fit stops it);
- a cancelled job's queued chunks are dropped (`cancel`);
- out of memory splits a batch in halves (one chunk alone that does not fit fails its job);
  any other failure of a batch holding several jobs runs each job's chunks alone again, so a
  failing job fails only itself; a broken device (WorkerBrokenError) fails the whole batch.
`counters` (queue depth, batches formed, batch sizes, chunks dropped, OOM splits) are for
tests and operators. A chunk may be submitted again (regeneration) at any time.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from f5_runtime.errors import DeviceOutOfMemory, EngineError, JobCancelled, WorkerBrokenError

if TYPE_CHECKING:
    import numpy as np

    from f5_runtime.engines import Engines
    from f5_runtime.engines.types import ChunkWork

log = logging.getLogger(__name__)

IDLE_EXIT_SECONDS = 30.0  # the device thread ends when idle this long (restarted on demand)


@dataclass
class Counters:
    """What the scheduler has done since it started (read them, never write them)."""

    queue_depth: int = 0  # chunks waiting now
    batches: int = 0  # sampler calls made
    batch_sizes: list[int] = field(default_factory=list)  # chunks per sampler call, in order
    cross_job_batches: int = 0  # sampler calls holding chunks of more than one job
    chunks_done: int = 0
    chunks_failed: int = 0
    chunks_dropped: int = 0  # of cancelled jobs, never sampled
    oom_splits: int = 0
    busy_seconds: float = 0.0  # time spent in engine calls
    overhead_seconds: float = 0.0  # time spent choosing batches and settling tickets

    def snapshot(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, list) else v) for k, v in vars(self).items()}


class JobHandle:
    """One job's place in the scheduler: its order, its priority, its cancellation."""

    def __init__(self, scheduler: EngineScheduler, seq: int, streaming: bool):
        self.scheduler = scheduler
        self.seq = seq  # arrival order: older jobs first
        self.streaming = streaming  # its first chunk jumps the queue
        self.cancelled: str | None = None  # why, once cancelled

    def submit(self, index: int, work: ChunkWork) -> ChunkTicket:
        """Queue chunk `index` of this job (again, to regenerate it); returns its ticket."""
        return self.submit_each([(index, work)])[0]

    def submit_all(self, works: Sequence[ChunkWork]) -> list[ChunkTicket]:
        """Queue every chunk of the job at once (so that they can share a batch)."""
        return self.submit_each(list(enumerate(works)))

    def submit_each(self, works: Sequence[tuple[int, ChunkWork]]) -> list[ChunkTicket]:
        """Queue several chunks (index, work) at once, e.g. one round's regenerations."""
        return self.scheduler._submit(self, list(works)) if works else []

    def cancel(self, why: str = "the job was cancelled") -> None:
        """Drop this job's queued chunks (a batch already on the device finishes)."""
        self.cancelled = why
        self.scheduler._drop(self)


@dataclass(eq=False)
class ChunkTicket:
    job: JobHandle
    index: int
    work: ChunkWork
    generated: Future = field(default_factory=Future)  # set (None) once sampled
    done: Future = field(default_factory=Future)  # its waveform (np.ndarray)
    timings: dict[str, float] = field(default_factory=dict)  # its share of generate/vocode

    @property
    def priority(self) -> tuple[int, int, int]:
        first = self.job.streaming and self.index == 0
        return (0 if first else 1, self.job.seq, self.index)

    def wave(self) -> np.ndarray:
        return self.done.result()

    def _fail(self, exc: BaseException) -> None:
        for future in (self.generated, self.done):
            if not future.done():
                future.set_exception(exc)


class EngineScheduler:
    def __init__(self, engines: Engines, batch_frames: int | None = None,
                 idle_exit: float = IDLE_EXIT_SECONDS):
        self.engines = engines
        self._batch_frames = batch_frames  # None: the engines' own, read at every batch
        self.counters = Counters()
        self._idle_exit = idle_exit
        self._queue: list[ChunkTicket] = []
        self._calls: list[tuple[Callable[[], Any], Future]] = []
        self._wake = threading.Condition()
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

    @property
    def batch_frames(self) -> int:
        return self.engines.batch_frames if self._batch_frames is None else self._batch_frames

    @batch_frames.setter
    def batch_frames(self, frames: int | None) -> None:
        self._batch_frames = frames

    # -- what jobs call (any thread) --

    def open_job(self, *, streaming: bool = False) -> JobHandle:
        return JobHandle(self, next(self._seq), streaming)

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run other device work (alignment, preparing a voice) on the device thread, between
        batches; directly when already on it."""
        if threading.current_thread() is self._thread:
            return fn()
        future: Future = Future()
        with self._wake:
            self._calls.append((fn, future))
            self._ensure_thread()
            self._wake.notify()
        return future.result()

    def _submit(self, job: JobHandle, works: list[tuple[int, ChunkWork]]) -> list[ChunkTicket]:
        tickets = [ChunkTicket(job, index, work) for index, work in works]
        if job.cancelled:
            for ticket in tickets:
                ticket._fail(JobCancelled(job.cancelled))
            return tickets
        with self._wake:
            self._queue += tickets
            self.counters.queue_depth = len(self._queue)
            self._ensure_thread()
            self._wake.notify()
        return tickets

    def _drop(self, job: JobHandle) -> None:
        with self._wake:
            dropped = [t for t in self._queue if t.job is job]
            self._queue = [t for t in self._queue if t.job is not job]
            self.counters.queue_depth = len(self._queue)
            self.counters.chunks_dropped += len(dropped)
        for ticket in dropped:
            ticket._fail(JobCancelled(job.cancelled or "the job was cancelled"))

    # -- the device thread --

    def _ensure_thread(self) -> None:  # with self._wake held
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="f5-engine-scheduler",
                                            daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._wake:
                if not self._queue and not self._calls:
                    self._wake.wait(self._idle_exit)
                    if not self._queue and not self._calls:
                        self._thread = None  # a later submit starts a new one
                        return
                calls, self._calls = self._calls, []
                batch = self._next_batch() if not calls else []
            for fn, future in calls:
                self._run_call(fn, future)
            if batch:
                self._run_batch(batch)

    @staticmethod
    def _run_call(fn: Callable[[], Any], future: Future) -> None:
        try:
            future.set_result(fn())
        except BaseException as exc:
            future.set_exception(exc)

    def _next_batch(self) -> list[ChunkTicket]:
        """Take the next batch off the queue (with self._wake held)."""
        started = time.perf_counter()
        ordered = sorted(self._queue, key=lambda t: t.priority)
        head = ordered[0]
        batch = [head]
        budget = self.batch_frames
        if budget > 0:
            longest = head.work.chunk.window
            stopped: set[int] = set()  # jobs whose next chunk did not fit
            for ticket in ordered[1:]:
                if ticket.job.seq in stopped or ticket.work.batch_key != head.work.batch_key:
                    stopped.add(ticket.job.seq)
                    continue
                window = max(longest, ticket.work.chunk.window)
                if window * (len(batch) + 1) > budget:
                    stopped.add(ticket.job.seq)
                    continue
                batch.append(ticket)
                longest = window
        taken = {id(t) for t in batch}
        self._queue = [t for t in self._queue if id(t) not in taken]
        self.counters.queue_depth = len(self._queue)
        self.counters.overhead_seconds += time.perf_counter() - started
        return batch

    def _run_batch(self, batch: Sequence[ChunkTicket]) -> None:
        """Generate and vocode `batch`; every ticket ends settled, whatever fails. A retry
        (split or per job) runs after the `except` block: inside it the failure's traceback
        would keep the failed attempt's tensors alive."""
        error: BaseException | None = None
        try:
            t0 = time.perf_counter()
            generated = self.engines.generate([t.work for t in batch])
            t1 = time.perf_counter()
            for ticket in batch:
                ticket.timings["generate"] = (t1 - t0) / len(batch)
                if not ticket.generated.done():  # (a split batch's retry)
                    ticket.generated.set_result(None)
            waves = self.engines.vocode(generated)
            t2 = time.perf_counter()
        except BaseException as exc:
            error = exc
        if isinstance(error, DeviceOutOfMemory):
            error.__traceback__ = None
            self._split(batch, error)
            return
        if error is not None:
            self._failed(batch, error)
            return
        self._count(batch, t2 - t0)
        started = time.perf_counter()
        for ticket, wave in zip(batch, waves, strict=True):
            ticket.timings["vocode"] = (t2 - t1) / len(batch)
            ticket.done.set_result(wave)
        self.counters.overhead_seconds += time.perf_counter() - started

    def _count(self, batch: Sequence[ChunkTicket], seconds: float) -> None:
        c = self.counters
        c.batches += 1
        c.batch_sizes.append(len(batch))
        c.cross_job_batches += len({t.job.seq for t in batch}) > 1
        c.chunks_done += len(batch)
        c.busy_seconds += seconds

    def _split(self, batch: Sequence[ChunkTicket], exc: DeviceOutOfMemory) -> None:
        if len(batch) == 1:
            self._failed(batch, EngineError(
                "out of GPU memory for one chunk: send shorter text (or lower "
                "F5_TTS_BATCH_FRAMES if other work shares this GPU)"))
            return
        self.counters.oom_splits += 1
        half = len(batch) // 2
        log.warning("%s: splitting the batch into %d + %d", exc, half, len(batch) - half)
        self._run_batch(batch[:half])
        self._run_batch(batch[half:])

    def _failed(self, batch: Sequence[ChunkTicket], exc: BaseException) -> None:
        jobs: dict[int, list[ChunkTicket]] = {}
        for ticket in batch:
            jobs.setdefault(ticket.job.seq, []).append(ticket)
        if len(jobs) > 1 and not isinstance(exc, WorkerBrokenError):
            log.warning("a batch of %d jobs failed (%s): each job again on its own",
                        len(jobs), exc)
            for tickets in jobs.values():
                self._run_batch(tickets)
            return
        self.counters.chunks_failed += len(batch)
        for ticket in batch:
            ticket._fail(exc)


_schedulers_lock = threading.Lock()


def scheduler_for(engines: Engines) -> EngineScheduler:
    """The one scheduler of `engines` (made on first use, kept on them): every caller that
    shares the engines shares their device owner."""
    with _schedulers_lock:
        scheduler = getattr(engines, "scheduler", None)
        if scheduler is None or scheduler.engines is not engines:  # (none, or a copy's)
            scheduler = EngineScheduler(engines)
            engines.scheduler = scheduler  # type: ignore[attr-defined]
        return scheduler
