"""Streaming on RunPod queue endpoints (F5_QUEUE_STREAMING=1): a generator handler.

A job with `"stream": true` yields its speech as chunk events (api/stream.py: each well under
RunPod's 1 MB per streamed chunk), read from `/stream/{id}`, then a `result` event (or the
`{"error": ...}` of a failed job). Any other job yields just its result. RunPod returns every
yield of a job as a list in `output` (`return_aggregate_stream`), so on such an endpoint
`/runsync` answers `[result]`: that is why streaming is off by default and the original
example's output stays a plain object there.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from f5_runtime.api.stream import result_event, spoken_events, wants_stream

if TYPE_CHECKING:
    from f5_runtime.flow.chunks import SpokenPiece
    from f5_runtime.serving.concurrent import AsyncHandler


def streaming_handler(jobs: AsyncHandler) -> Callable[[dict], AsyncIterator[dict[str, Any]]]:
    """The generator handler around the concurrent worker's `jobs` (concurrent.py): the same
    jobs, concurrency and cancellation, each streamed job's events yielded as they come."""
    sample_rate = jobs.handler.engines.sample_rate

    async def stream(job: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        if not wants_stream(job.get("input")):
            yield await jobs(job)
            return
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue()

        def on_piece(spoken: SpokenPiece) -> None:  # on the job's thread
            batch = spoken_events(spoken, sample_rate)
            loop.call_soon_threadsafe(events.put_nowait, batch)

        job_done = asyncio.ensure_future(jobs.run(job, on_piece=on_piece))
        try:
            while not job_done.done() or not events.empty():
                waiting = asyncio.ensure_future(events.get())
                await asyncio.wait({waiting, job_done}, return_when=asyncio.FIRST_COMPLETED)
                if not waiting.done():
                    waiting.cancel()
                    continue
                for event in waiting.result():
                    yield event
        finally:
            if not job_done.done():  # the stream was cancelled: so is its job
                job_done.cancel()
        output = job_done.result()
        yield output if "error" in output else result_event(output)

    return stream
