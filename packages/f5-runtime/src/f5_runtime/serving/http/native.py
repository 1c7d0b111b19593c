"""The native API over HTTP, as RunPod's queue endpoint answers it: POST /runsync, /run,
/status/{id}, /stream/{id} with `{"input": ...}`, so a client written for the endpoint works
against this server unchanged.

- /runsync: `{"id", "status": "COMPLETED", "output"}` or `{"id", "status": "FAILED", "error"}`
  (a bad request is a FAILED job with the reason, as on RunPod, and the server carries on); a
  client that hangs up before the answer stops its job (queued chunks dropped, outputs
  removed: `runsync_cancelled` counts them);
- /run: `{"id", "status": "IN_QUEUE"}`; the job runs in the background; /status/{id} gives its
  state and, once done, its output or error (kept for the last `KEPT_JOBS` jobs);
- `"stream": true` in the input: the job's speech as chunk events (api/stream.py), then a
  final `result` event. /stream/{id} returns the events not yet returned (RunPod's
  `{"status", "stream": [{"output": event}, ...]}`); a finished streamed job's output is the
  list of all its events, as RunPod aggregates a generator's yields.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request, Response

from f5_runtime.api.stream import result_event, spoken_events, wants_stream
from f5_runtime.serving.http.errors import HttpError

if TYPE_CHECKING:
    from f5_runtime.flow.chunks import SpokenPiece
    from f5_runtime.serving.http.service import Service

log = logging.getLogger(__name__)
router = APIRouter()
KEPT_JOBS = 1000  # finished /run jobs whose status can still be asked for


@dataclass
class NativeJob:
    id: str
    status: str = "IN_QUEUE"
    output: Any = None
    error: str | None = None
    stream: list[dict[str, Any]] = field(default_factory=list)
    sent: int = 0  # stream events already returned by /stream
    task: asyncio.Task | None = None

    def response(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "status": self.status}
        if self.status == "COMPLETED":
            out["output"] = self.output
        elif self.status == "FAILED":
            out["error"] = self.error
        return out


async def _job_input(request: Request) -> Any:
    try:
        payload = await request.json()
    except ValueError:
        raise HttpError(400, "the body is not JSON: send {\"input\": {...}}") from None
    if not isinstance(payload, dict) or "input" not in payload:
        raise HttpError(400, "the body must be a JSON object with an \"input\" field, as for "
                        "the RunPod endpoint: {\"input\": {...}}", param="input")
    return payload["input"]


async def execute(service: Service, job: NativeJob, job_input: Any) -> None:
    """Run one job; its status, output or error end up in `job`."""
    service.require_ready()
    loop = asyncio.get_running_loop()
    streamed = wants_stream(job_input)

    def on_piece(spoken: SpokenPiece) -> None:  # on the job's thread
        events = spoken_events(spoken, service.engines.sample_rate)  # type: ignore[union-attr]
        loop.call_soon_threadsafe(job.stream.extend, events)
        if spoken.chunk is not None:
            service.counters.chunks_generated += 1

    job.status = "IN_PROGRESS"
    output = await service.run_job({"id": job.id, "input": job_input},
                                   on_piece if streamed else None)
    if output.pop("refresh_worker", False):
        service.broken = True  # /ping turns unhealthy: the load balancer replaces this server
    if "error" in output:
        job.status, job.error = "FAILED", str(output["error"])
        return
    if streamed:
        job.stream.append(result_event(output))
        output = list(job.stream)
    job.status, job.output = "COMPLETED", output


@router.post("/runsync")
async def runsync(request: Request) -> Any:
    service: Service = request.app.state.service
    job_input = await _job_input(request)
    service.require_ready()
    job = NativeJob(str(uuid.uuid4()))
    with service.admission.admit():
        work = asyncio.ensure_future(execute(service, job, job_input))
        gone = asyncio.ensure_future(_disconnected(request))
        try:
            await asyncio.wait({work, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
        if not work.done():  # nobody waits for the answer: stop the job (concurrent.py)
            work.cancel()
            await asyncio.gather(work, return_exceptions=True)
            service.counters.runsync_cancelled += 1
            log.info("job %s stopped: its client went away", job.id)
            return Response(status_code=499)  # (nginx's "client closed request"; unread)
    return job.response()


async def _disconnected(request: Request) -> None:
    """Returns when the client has hung up (the body is read: all that can come is that)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


@router.post("/run")
async def run(request: Request) -> dict[str, Any]:
    service: Service = request.app.state.service
    job_input = await _job_input(request)
    service.require_ready()
    release = service.admission.take()
    job = NativeJob(str(uuid.uuid4()))

    async def background() -> None:
        try:
            await execute(service, job, job_input)
        except Exception as exc:  # execute reports job failures itself; this is a bug
            log.exception("job %s failed", job.id)
            job.status, job.error = "FAILED", f"internal error: {type(exc).__name__}"
        finally:
            release()

    _remember(service, job)
    job.task = asyncio.create_task(background())
    return {"id": job.id, "status": job.status}


def _remember(service: Service, job: NativeJob) -> None:
    jobs = service.jobs
    while len(jobs) >= KEPT_JOBS:
        oldest = next((k for k, j in jobs.items() if j.status in ("COMPLETED", "FAILED")), None)
        if oldest is None:
            break
        jobs.pop(oldest)
    jobs[job.id] = job


def _job(service: Service, job_id: str) -> NativeJob:
    job = service.jobs.get(job_id)
    if job is None:
        raise HttpError(404, f"no job {job_id!r} on this server (finished jobs are kept for the "
                        f"last {KEPT_JOBS})", param="id")
    return job


@router.api_route("/status/{job_id}", methods=["GET", "POST"])
async def status(job_id: str, request: Request) -> dict[str, Any]:
    return _job(request.app.state.service, job_id).response()


@router.api_route("/stream/{job_id}", methods=["GET", "POST"])
async def stream(job_id: str, request: Request) -> dict[str, Any]:
    """The events produced since the last call (waits up to a second for a new one)."""
    job = _job(request.app.state.service, job_id)
    for _ in range(20):
        if len(job.stream) > job.sent or job.status in ("COMPLETED", "FAILED"):
            break
        await asyncio.sleep(0.05)
    events, job.sent = job.stream[job.sent:], len(job.stream)
    out: dict[str, Any] = {"id": job.id, "status": job.status,
                           "stream": [{"output": e} for e in events]}
    if job.status == "FAILED":
        out["error"] = job.error
    return out
