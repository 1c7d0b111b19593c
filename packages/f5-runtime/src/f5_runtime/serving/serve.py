"""`f5-runtime serve [--host 127.0.0.1] [--port 8000]`: the HTTP server (serving/http/).

OpenAI's `/v1/audio/speech`, the native API (`/runsync`, `/run`, `/status/{id}`,
`/stream/{id}`), `/ping` and `/health` on FastAPI + uvicorn. It listens at once and loads
the engines in the background: `/ping` answers 204 until they are ready, then 200 (RunPod's
load balancer sends traffic only then). With PORT_HEALTH different from the port, `/ping`
also answers there. The same server runs on RunPod load-balancing endpoints when the worker
is started with F5_MODE=http (worker.py). RunPod's own development server for the queue
worker is `f5-runtime worker --rp_serve_api`.

SIGTERM (RunPod's stop) or SIGINT: the server stops accepting, `/ping` answers 503 at once
(also on PORT_HEALTH, so the load balancer sends nothing more), running requests may finish
within F5_STOP_GRACE_S, then their jobs are stopped (service.py: queued chunks dropped, what
they uploaded deleted, an error that says to retry; a stream ends early). The process then
exits 0 (uvicorn would re-raise the signal after its shutdown and die by it).
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
import time
from types import FrameType
from typing import TYPE_CHECKING

import uvicorn

from f5_runtime.errors import ConfigError, ModelMissingError

if TYPE_CHECKING:
    from f5_runtime.config import Settings
    from f5_runtime.serving.http.service import Service

log = logging.getLogger(__name__)
# Stopped requests answer at once, but a client may still be reading: uvicorn cuts the
# connections still open this long after the grace.
ANSWER_AFTER_STOP_S = 5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on")


def load_in_background(service: Service) -> threading.Thread:
    """Load the engines on a thread; the service is ready when they are."""
    from f5_runtime.serving.worker import load_engines

    def load() -> None:
        t0 = time.perf_counter()
        try:
            engines = load_engines(service.settings)
        except Exception as exc:  # the server stays up and says why on every request
            log.error("the engines failed to load: %s", exc, exc_info=True)
            service.load_error = f"this server cannot serve: the engines failed to load ({exc})"
            return
        log.info("engines ready in %.1f s", time.perf_counter() - t0)
        service.set_engines(engines)

    thread = threading.Thread(target=load, name="load-engines", daemon=True)
    thread.start()
    return thread


class StoppingServer(uvicorn.Server):
    """uvicorn, whose first SIGTERM/SIGINT also drains the service (module docstring)."""

    def __init__(self, config: uvicorn.Config, service: Service):
        super().__init__(config)
        self.service = service

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if not self.should_exit:
            grace = self.service.settings.stop_grace_seconds
            log.warning("%s: stopping; running requests may finish within %.1f s "
                        "(F5_STOP_GRACE_S)", signal.Signals(sig).name, grace)
            self.service.drain(grace)
        super().handle_exit(sig, frame)


def _stopped(signum: int, frame: FrameType | None) -> None:
    """uvicorn re-raises the stop signal once it has shut down: the stop is done by then."""
    log.info("stopped (%s)", signal.Signals(signum).name)


def serve_http(settings: Settings, host: str, port: int, health_port: int | None = None) -> int:
    """Run the server until SIGTERM/SIGINT (running requests may finish)."""
    from f5_runtime.serving.http.app import build_app, health_app

    log.info("%s", settings.summary())
    app = build_app(settings)
    service: Service = app.state.service
    load_in_background(service)

    def config(application, at: int) -> uvicorn.Config:
        return uvicorn.Config(
            application, host=host, port=at, log_config=None, access_log=False,
            timeout_graceful_shutdown=settings.stop_grace_seconds + ANSWER_AFTER_STOP_S)

    health = None
    if health_port and health_port != port:
        # Its own thread: only the main server handles signals; it stops this one after.
        health = uvicorn.Server(config(health_app(service), health_port))
        threading.Thread(target=health.run, name="ping", daemon=True).start()
    log.info("HTTP server on http://%s:%d%s", host, port,
             f" (/ping also on {health_port})" if health else "")
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stopped)
    try:
        StoppingServer(config(app, port), service).run()
    finally:
        if health is not None:
            health.should_exit = True
    return 0


def main(args: argparse.Namespace) -> int:
    from f5_runtime.config import Settings

    try:
        return serve_http(Settings.from_env(), args.host, args.port)
    except (ConfigError, ModelMissingError) as exc:
        log.error("cannot start the server: %s", exc)
        return 2
