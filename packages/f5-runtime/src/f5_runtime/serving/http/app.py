"""The HTTP server's app: `build_app(settings, engines)`.

Routes: /ping (liveness and readiness for RunPod's load balancer: 204 while the engines
load, 200 when ready, 503 once a job broke the GPU or the server is stopping), /health (the
same with device, models and counters), the OpenAI routes (speech.py), the named voices
(voices.py), the native API (native.py), and the web page at `/` when the package has one
(`f5_runtime/serving/web/`). With F5_API_KEYS set, every route but /ping and the page's
static files needs `Authorization: Bearer <key>`.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles

from f5_runtime import version
from f5_runtime.serving.http import errors, native, speech, voices
from f5_runtime.serving.http.errors import HttpError
from f5_runtime.serving.http.service import Service

if TYPE_CHECKING:
    from f5_runtime.config import Settings
    from f5_runtime.engines import Engines

WEB_DIR = Path(__file__).resolve().parent.parent / "web"  # the page (another package part)
OPEN_PATHS = ("/ping",)  # answered without a key: the load balancer's health check


def ping(service: Service) -> Response:
    if service.broken or service.draining:
        return Response(status_code=503)
    return Response(status_code=200 if service.ready else 204)


def build_app(settings: Settings, engines: Engines | None = None) -> FastAPI:
    """The app; without `engines` it answers /ping with 204 until `app.state.service
    .set_engines(...)` is called."""
    service = Service(settings, engines)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        service.stop()  # running jobs stop at their next stage; nothing new starts

    app = FastAPI(title="F5-TTS", version=version(), docs_url=None, redoc_url=None,
                  lifespan=lifespan)
    app.state.service = service
    errors.install(app)
    keys = [k.encode() for k in settings.api_keys]
    page_paths = _page_paths()

    @app.middleware("http")
    async def require_key(request: Request, call_next: Any) -> Response:
        path = request.url.path
        if keys and path not in OPEN_PATHS and path not in page_paths:
            given = request.headers.get("authorization", "")
            scheme, _, key = given.partition(" ")
            if scheme.lower() != "bearer" or not any(hmac.compare_digest(key.strip().encode(), k)
                                                     for k in keys):
                reason = "wrong API key" if given else "missing API key"
                return errors.error_response(HttpError(
                    401, f"{reason}: send the header 'Authorization: Bearer <key>' with one of "
                    "this server's keys (F5_API_KEYS)", code="invalid_api_key"))
        return await call_next(request)

    @app.get("/ping")
    async def ping_route() -> Response:
        return ping(service)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return service.health()

    app.include_router(speech.router)
    app.include_router(voices.router)
    app.include_router(native.router)
    if WEB_DIR.is_dir():
        app.mount("/", StaticFiles(directory=WEB_DIR, html=True), name="web")
    return app


def _page_paths() -> set[str]:
    """The URL paths of the page's files (and `/` for its index): public, like any web page;
    everything the page calls needs the key."""
    if not WEB_DIR.is_dir():
        return set()
    paths = {"/" + p.relative_to(WEB_DIR).as_posix() for p in WEB_DIR.rglob("*") if p.is_file()}
    return paths | ({"/"} if (WEB_DIR / "index.html").is_file() else set())


def health_app(service: Service) -> FastAPI:
    """Only /ping, for PORT_HEALTH when it differs from PORT."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/ping")
    async def ping_route() -> Response:
        return ping(service)

    return app
