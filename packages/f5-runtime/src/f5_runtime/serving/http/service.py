"""What every route of the HTTP server shares: the settings, the engines once loaded, the job
runner, admission, counters, the voices and the native API's jobs.

Every request's job runs on a thread of its own (serving/concurrent.py, as on the concurrent
queue worker); all their chunks go to the device through the engine scheduler
(flow/scheduler.py), which batches them. Each job has a JobControl (flow/control.py) that the
server stops when the request runs past F5_REQUEST_TIMEOUT_S, its client goes away or the
server shuts down: its queued chunks are dropped at once.

The server starts answering before the engines are loaded (`/ping` says 204 until `ready`);
every other route answers 503 until then.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from f5_runtime.flow.control import JobControl
from f5_runtime.serving.http.admission import Admission, Counters

if TYPE_CHECKING:
    from f5_runtime.config import Settings
    from f5_runtime.engines import Engines
    from f5_runtime.flow.job import PieceCallback
    from f5_runtime.serving.concurrent import AsyncHandler
    from f5_runtime.serving.worker import Handler
    from f5_runtime.voices.library import VoiceLibrary

log = logging.getLogger(__name__)


STOPPING_MESSAGE = "the server is stopping: retry the request"


class NotReady(Exception):
    """The engines are still loading (or failed to): 503."""


class Service:
    def __init__(self, settings: Settings, engines: Engines | None = None):
        self.settings = settings
        self.counters = Counters()
        self.admission = Admission(settings.max_queue, self.counters)
        self.engines: Engines | None = None
        self.handler: Handler | None = None
        self.runner: AsyncHandler | None = None  # runs each job on a thread of its own
        self.running: set[JobControl] = set()  # the controls of the jobs running now
        self.voices: VoiceLibrary | None = None  # the named voices (set with the engines)
        self.load_error: str | None = None
        # A job broke the GPU or the models: /ping says unhealthy from now on, so the load
        # balancer replaces this server; requests already here are still tried.
        self.broken = False
        self.jobs: dict[str, Any] = {}  # the native API's /run jobs (native.py)
        self.stopping = threading.Event()
        self.draining = False  # stopping after a grace: /ping says 503, nothing new starts
        if engines is not None:
            self.set_engines(engines)

    def set_engines(self, engines: Engines) -> None:
        """The engines are loaded: from now on the server is ready."""
        from f5_runtime.flow.scheduler import scheduler_for
        from f5_runtime.io.storage import Storage
        from f5_runtime.serving.concurrent import AsyncHandler
        from f5_runtime.serving.worker import Handler
        from f5_runtime.voices.library import VoiceLibrary

        storage = Storage(self.settings)
        scheduler = scheduler_for(engines)
        # The one voice library: the OpenAI routes, the voices routes and the native API's
        # jobs all use it. Preparing a voice is engine work: it runs on the device thread.
        self.voices = VoiceLibrary.from_settings(
            self.settings, s3=storage.s3,
            prepare=lambda audio, text, language: scheduler.call(
                lambda: engines.prepare_reference(audio, text, language)))
        self.handler = Handler(engines, storage, self.settings, voices=self.voices)
        self.runner = AsyncHandler(self.handler, self.settings.max_queue)
        self.engines = engines
        log.info("ready: serving requests")

    @property
    def ready(self) -> bool:
        return self.engines is not None and not self.broken

    def require_ready(self) -> tuple[Engines, Handler]:
        if self.draining:
            raise NotReady(STOPPING_MESSAGE)
        if self.engines is None or self.handler is None:
            raise NotReady(self.load_error or "the models are still loading: retry shortly")
        return self.engines, self.handler

    def watch(self, control: JobControl) -> Callable[[], None]:
        """Stop `control`'s job at the request's time limit or when the server stops, until
        the returned release is called (on the event loop)."""
        if self.stopping.is_set():
            control.stop(STOPPING_MESSAGE)
        timer = asyncio.get_running_loop().call_later(
            self.settings.request_timeout, control.stop,
            f"the request ran past its {self.settings.request_timeout:.0f} s limit "
            "(F5_REQUEST_TIMEOUT_S): send shorter text, or retry later")
        self.running.add(control)

        def release() -> None:
            timer.cancel()
            self.running.discard(control)

        return release

    async def run_job(self, job: dict[str, Any], on_piece: PieceCallback | None = None
                      ) -> dict[str, Any]:
        """One job of the native API, as the queue worker answers it (its output dict)."""
        self.require_ready()
        assert self.runner is not None
        control = JobControl(streaming=on_piece is not None)
        release = self.watch(control)
        try:
            return await self.runner.run(job, on_piece, control)
        finally:
            release()

    def drain(self, grace: float) -> None:
        """The server was told to stop (on the event loop's thread): take nothing new; running
        jobs may finish within `grace` seconds, then are stopped (`stop`)."""
        self.draining = True
        asyncio.get_running_loop().call_later(grace, self.stop)

    def stop(self) -> None:
        """Shutting down: running jobs stop (their queued chunks dropped), nothing new starts."""
        self.stopping.set()
        for control in list(self.running):
            control.stop(STOPPING_MESSAGE)

    def require_voices(self) -> VoiceLibrary:
        self.require_ready()
        assert self.voices is not None
        return self.voices

    def health(self) -> dict[str, Any]:
        engines = self.engines
        return {
            "status": "ok" if self.ready else ("broken" if self.broken else "loading"),
            "device": getattr(engines, "device", None) and str(engines.device),
            "model": self.settings.tts_model, "load_format": self.settings.load_format,
            "languages": list(self.settings.languages),
            "max_queue": self.settings.max_queue,
            **self.counters.snapshot(),
            # the device's side: batches formed, chunks sampled, chunks dropped for jobs
            # stopped before their turn (a client that left), out-of-memory splits
            "scheduler": self._scheduler_counters(),
        }

    def _scheduler_counters(self) -> dict[str, Any] | None:
        if self.engines is None:
            return None
        from f5_runtime.flow.scheduler import scheduler_for

        counters = scheduler_for(self.engines).counters.snapshot()
        sizes = counters.pop("batch_sizes")
        counters["largest_batch"] = max(sizes, default=0)
        return counters
