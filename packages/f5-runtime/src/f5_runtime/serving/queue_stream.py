"""Streaming on RunPod queue endpoints (F5_QUEUE_STREAMING=1): a generator handler.

A job with `"stream": true` yields its speech as chunk events (api/stream.py: each well under
RunPod's 1 MB per streamed chunk), read from `/stream/{id}`, then a `result` event (or the
`{"error": ...}` of a failed job). Any other job yields just its result. RunPod returns every
yield of a job as a list in `output` (`return_aggregate_stream`), so on such an endpoint
`/runsync` answers `[result]`: that is why streaming is off by default and the original
example's output stays a plain object there.

The result event is a yield like any other, so it too must stay under 1 MB: a result whose
inline audio (no output bucket) would take it past `MAX_RESULT_EVENT_BYTES` comes without
`audio_base64`, and says where the audio is: in the chunk events already sent.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from f5_runtime.api.stream import result_event, spoken_events, wants_stream

if TYPE_CHECKING:
    from f5_runtime.flow.chunks import SpokenPiece
    from f5_runtime.serving.concurrent import AsyncHandler

MAX_RESULT_EVENT_BYTES = 768 * 1024  # RunPod refuses streamed yields over 1 MB
AUDIO_LEFT_OUT = ("left out of this event: the chunk events carry the same audio (RunPod "
                  "streams at most 1 MB a yield); give the job an output bucket to get the file")


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
        yield output if "error" in output else fitted(result_event(output))

    return stream


def fitted(event: dict[str, Any]) -> dict[str, Any]:
    """The result event, without its inline audio when that would make it too big a yield."""
    if "audio_base64" not in event or len(json.dumps(event)) <= MAX_RESULT_EVENT_BYTES:
        return event
    return {**{k: v for k, v in event.items() if k != "audio_base64"},
            "audio_base64_omitted": AUDIO_LEFT_OUT}
