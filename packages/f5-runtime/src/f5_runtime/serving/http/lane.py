"""The server's one way to the device, and who may queue for it.

- `DeviceLane`: the single owner of the engines. Every piece of engine work (a whole job, or
  one chunk of a stream) runs on its one thread, in the order it was asked for, so requests
  never run the models concurrently. A stream asks for one chunk at a time: chunks of
  concurrent streams interleave, and a stream that stops asking (its client left) costs
  nothing more. This is the seam the engine scheduler (batching chunks across requests)
  replaces. `run` is the same lane for code that is not async (the voice library).
- `Admission`: at most `F5_MAX_QUEUE` requests waiting or running; beyond that `Busy`
  (429 with Retry-After) instead of unbounded latency.
- `Counters`: what /health reports and tests observe.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass
class Counters:
    queue_depth: int = 0  # requests admitted and not finished (waiting or running)
    requests_served: int = 0  # finished with a response (errors included)
    requests_rejected: int = 0  # refused with 429
    chunks_generated: int = 0  # chunks synthesized for streams
    chunks_cancelled: int = 0  # chunks of streams never generated: their client left

    def snapshot(self) -> dict[str, int]:
        return asdict(self)


class Busy(Exception):
    """The queue is full: come back after `retry_after` seconds."""

    def __init__(self, limit: int, retry_after: int):
        super().__init__(f"the server is busy: {limit} requests are already queued or running; "
                         f"retry after {retry_after} s")
        self.retry_after = retry_after


class Admission:
    def __init__(self, limit: int, counters: Counters, retry_after: int = 1):
        self.limit = limit
        self.counters = counters
        self.retry_after = retry_after
        self._lock = threading.Lock()

    @contextmanager
    def admit(self) -> Iterator[None]:
        """Hold a place in the queue for the block; Busy when there is none."""
        with self._lock:
            if self.counters.queue_depth >= self.limit:
                self.counters.requests_rejected += 1
                raise Busy(self.limit, self.retry_after)
            self.counters.queue_depth += 1
        try:
            yield
        finally:
            with self._lock:
                self.counters.queue_depth -= 1
                self.counters.requests_served += 1

    def take(self) -> Callable[[], None]:
        """A place held beyond one block (a streamed response): returns its release."""
        context = self.admit()
        context.__enter__()
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                context.__exit__(None, None, None)

        return release


class DeviceLane:
    def __init__(self) -> None:
        self._here = threading.local()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="device",
                                            initializer=self._mark)

    def _mark(self) -> None:
        self._here.device = True

    def run(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` on the device thread, waited for, from any thread: directly when already
        on it (a job on the lane preparing a named voice), else queued like `call` (the voice
        library preparing a voice for a route, from a worker thread)."""
        if getattr(self._here, "device", False):
            return fn(*args)
        return self._executor.submit(fn, *args).result()

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` on the device thread, after the work asked for before it."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        """`fn(*args)` on the device thread, not waited for (e.g. closing a dropped stream)."""
        self._executor.submit(fn, *args)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
