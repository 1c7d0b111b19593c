"""Who may queue for the device, and what /health counts.

- `Admission`: at most `F5_MAX_QUEUE` requests waiting or running; beyond that `Busy`
  (429 with Retry-After) instead of unbounded latency. Admitted requests run at once, each on
  a thread of its own; their chunks share the device through the engine scheduler
  (flow/scheduler.py), which batches them.
- `Counters`: what /health reports and tests observe.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass


@dataclass
class Counters:
    queue_depth: int = 0  # requests admitted and not finished (waiting or running)
    requests_served: int = 0  # finished with a response (errors included)
    requests_rejected: int = 0  # refused with 429
    chunks_generated: int = 0  # chunks delivered to streams
    chunks_cancelled: int = 0  # chunks of streams never delivered: their client left
    runsync_cancelled: int = 0  # /runsync jobs stopped: their client left before the answer

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
