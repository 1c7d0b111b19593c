"""`f5-runtime worker`: what the image runs (exec'd by `f5-bootstrap run`), in one of two modes.

F5_MODE=queue (default): the RunPod queue worker (worker.py). F5_MODE=http: the HTTP server
(serve.py) on PORT, /ping also on PORT_HEALTH, for RunPod load-balancing endpoints. The mode
is an environment variable so that `f5-bootstrap run` passes it through unchanged.
"""

from __future__ import annotations

import argparse
import logging

from f5_runtime.errors import ConfigError
from f5_runtime.serving import worker
from f5_runtime.serving.worker import add_arguments

__all__ = ["add_arguments", "main"]
log = logging.getLogger(__name__)
HTTP_HOST = "0.0.0.0"  # on a load-balancing endpoint the balancer connects from outside


def main(args: argparse.Namespace) -> int:
    from f5_runtime.config import Settings

    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        log.error("cannot start the worker: %s", exc)
        return 2
    if settings.mode == "http":
        from f5_runtime.serving.serve import serve_http

        return serve_http(settings, HTTP_HOST, settings.port, settings.port_health)
    return worker.main(args)
