"""What every route of the HTTP server shares: the settings, the engines once loaded, the one
lane to the device, admission, counters, the voices and the native API's jobs.

The server starts answering before the engines are loaded (`/ping` says 204 until `ready`);
every other route answers 503 until then.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from f5_runtime.errors import JobCancelled
from f5_runtime.serving.http.lane import Admission, Counters, DeviceLane

if TYPE_CHECKING:
    from f5_runtime.config import Settings
    from f5_runtime.engines import Engines
    from f5_runtime.flow.clock import Stage
    from f5_runtime.serving.worker import Handler
    from f5_runtime.voices.library import VoiceLibrary

log = logging.getLogger(__name__)


class NotReady(Exception):
    """The engines are still loading (or failed to): 503."""


@dataclass
class Deadline:
    """A request's time limit, and whether its client is gone: checked between stages."""

    seconds: float
    stopping: threading.Event  # the server is shutting down
    start: float = field(default_factory=time.monotonic)
    cancelled: bool = False

    @property
    def expired(self) -> bool:
        return time.monotonic() - self.start > self.seconds

    def check(self, stage: Stage | None = None) -> None:
        """Raise JobCancelled when the request should stop (a StageCallback too)."""
        if self.cancelled:
            raise JobCancelled("the client went away: the rest of the job was dropped")
        if self.stopping.is_set():
            raise JobCancelled("the server is stopping: retry the request")
        if self.expired:
            raise JobCancelled(f"the request ran past its {self.seconds:.0f} s limit "
                               "(F5_REQUEST_TIMEOUT_S): send shorter text, or retry later")


class Service:
    def __init__(self, settings: Settings, engines: Engines | None = None):
        self.settings = settings
        self.counters = Counters()
        self.admission = Admission(settings.max_queue, self.counters)
        self.lane = DeviceLane()
        self.engines: Engines | None = None
        self.handler: Handler | None = None
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
        from f5_runtime.io.storage import Storage
        from f5_runtime.serving.worker import Handler
        from f5_runtime.voices.library import VoiceLibrary

        storage = Storage(self.settings)
        # The one voice library: the OpenAI routes, the voices routes and the native API's
        # jobs all use it. Preparing a voice is engine work: it runs on the device lane.
        self.voices = VoiceLibrary.from_settings(
            self.settings, s3=storage.s3,
            prepare=lambda audio, text, language: self.lane.run(
                engines.prepare_reference, audio, text, language))
        self.handler = Handler(engines, storage, self.settings, voices=self.voices)
        self.engines = engines
        log.info("ready: serving requests")

    @property
    def ready(self) -> bool:
        return self.engines is not None and not self.broken

    def require_ready(self) -> tuple[Engines, Handler]:
        if self.draining:
            raise NotReady("this server is stopping: retry the request")
        if self.engines is None or self.handler is None:
            raise NotReady(self.load_error or "the models are still loading: retry shortly")
        return self.engines, self.handler

    def deadline(self) -> Deadline:
        return Deadline(self.settings.request_timeout, self.stopping)

    def drain(self, grace: float) -> None:
        """The server was told to stop: take nothing new; running jobs may finish within
        `grace` seconds, then stop at their next stage (`stopping`)."""
        self.draining = True
        timer = threading.Timer(grace, self.stopping.set)
        timer.daemon = True
        timer.start()

    def stop(self) -> None:
        """Shutting down: running jobs stop at their next stage, queued work is dropped."""
        self.stopping.set()
        self.lane.shutdown()

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
        }
