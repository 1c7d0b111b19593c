"""`f5-runtime serve [--host 127.0.0.1] [--port 8000]`: the worker behind RunPod's local API.

The same handler and warm-loaded engines as on an endpoint, served by the RunPod SDK's own
development server (`--rp_serve_api`): POST /runsync, /run, /status/{id}, /stream/{id}.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on")


def main(args: argparse.Namespace) -> int:
    from f5_runtime.serving import worker

    rp_argv = ["--rp_serve_api", "--rp_api_host", args.host, "--rp_api_port", str(args.port)]
    return worker.start(rp_argv, "server")
