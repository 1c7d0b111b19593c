"""The RunPod worker: `f5-runtime worker [RunPod flags]` (what `f5-bootstrap run` execs).

`main()` reads the settings, loads the engines (warm: the first job pays nothing for model
loading) and only then calls `runpod.serverless.start`; nothing happens at import time. The
handler is a thin edge: job dict in, `flow.job.run_job`, plain JSON out. Errors:
- a bad request (UserError) or a storage failure -> {"error": "<what to fix>"}; the worker
  stays up for the next job;
- anything unexpected -> {"error": "<what failed, what to do> (job <id>)"} and the traceback
  in the log, never a bare traceback as the message;
- a failure that leaves the GPU or the models unusable (WorkerBrokenError, CUDA errors) ->
  also "refresh_worker": true, so RunPod replaces this worker after the job;
- SIGTERM during a job: it may finish within F5_STOP_GRACE_S, else it is abandoned and cleaned
  up (shutdown.py) -> {"error": "... retry the job"}; no new job is taken either way.
Progress goes to RunPod (`progress_update`) once per stage as it starts (`generate` once per
chunk, with its index), never for the stages of the last moments before the result, and
only on a real endpoint.

The RunPod SDK parses sys.argv itself; the flags it knows (--rp_serve_api, --test_input, ...)
are accepted here and passed through to it.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import signal
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from f5_runtime.errors import (
    ConfigError,
    JobCancelled,
    ModelMissingError,
    RuntimeFailure,
    StorageError,
    UserError,
    WorkerBrokenError,
    WorkerStopping,
)

if TYPE_CHECKING:
    from f5_runtime.config import Settings
    from f5_runtime.engines import Engines
    from f5_runtime.flow.clock import Stage, StageCallback
    from f5_runtime.flow.control import JobControl
    from f5_runtime.flow.job import PieceCallback
    from f5_runtime.io.storage import Storage
    from f5_runtime.voices.library import VoiceLibrary

log = logging.getLogger(__name__)

# Text of errors after which the CUDA context (and so the loaded models) cannot be trusted.
BROKEN_MARKERS = (
    "CUDA error", "CUDA out of memory", "CUBLAS_STATUS", "CUDNN_STATUS", "cuDNN error",
    "device-side assert", "NCCL error", "illegal memory access",
)
BROKEN_TYPES = ("OutOfMemoryError", "AcceleratorError", "CudaError")

# RunPod SDK flags: (flag, argparse kwargs). They are handed to runpod.serverless.start as argv.
RUNPOD_FLAGS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("--rp_serve_api", {"action": "store_true", "help": "serve RunPod's local API (testing)"}),
    ("--rp_api_host", {"help": "local API host (default localhost)"}),
    ("--rp_api_port", {"type": int, "help": "local API port (default 8000)"}),
    ("--rp_api_concurrency", {"type": int, "help": "local API workers (default 1)"}),
    ("--rp_log_level", {"help": "RunPod SDK log level: ERROR, WARN, INFO, DEBUG"}),
    ("--rp_debugger", {"action": "store_true", "help": "RunPod SDK debugger output"}),
    ("--test_input", {"help": "run this job JSON once and exit (else ./test_input.json locally)"}),
)

ProgressReporter = Callable[[dict, Any], None]
# Stages not reported to RunPod: instant, or the last milliseconds before the result, where a
# late progress update could land after the job completed (runpod-python #250).
UNREPORTED_STAGES = frozenset({"validate", "assemble", "encode", "subtitles", "publish"})


def progress(stage: Stage) -> tuple[tuple[str, int | None], dict[str, Any]] | None:
    """(key, payload) of the progress update for entering `stage`, None when it is not
    reported; a key is reported once per job."""
    key = stage.progress_key
    if stage.name in UNREPORTED_STAGES or key is None:
        return None
    if key[1] is not None:  # generate, once per chunk: how far a long job is
        return key, {"stage": stage.name, "chunk": key[1] + 1, "chunks": stage.chunks}
    return key, {"stage": stage.name}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("RunPod SDK flags (passed through to the SDK)")
    for flag, kwargs in RUNPOD_FLAGS:
        group.add_argument(flag, **kwargs)


def runpod_argv(args: argparse.Namespace) -> list[str]:
    argv = []
    for flag, kwargs in RUNPOD_FLAGS:
        value = getattr(args, flag.lstrip("-"), None)
        if kwargs.get("action") == "store_true":
            argv += [flag] if value else []
        elif value is not None:
            argv += [flag, str(value)]
    return argv


def load_engines(settings: Settings) -> Engines:
    """Build the engines with the F5_ENGINES factory (default: the real F5-TTS + WhisperX)."""
    module_name, _, attr = settings.engines_factory.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"F5_ENGINES={settings.engines_factory!r}: use 'module:callable'")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"F5_ENGINES={settings.engines_factory!r}: {exc}") from exc
    return factory(settings)


def is_broken(exc: BaseException) -> bool:
    """True when the process can no longer serve jobs safely (RunPod should replace it)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:  # the exception and what caused it
        seen.add(id(exc))
        if isinstance(exc, WorkerBrokenError) or type(exc).__name__ in BROKEN_TYPES:
            return True
        if any(marker in str(exc) for marker in BROKEN_MARKERS):
            return True
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return False


def error_result(exc: BaseException, job_id: str, stage: str | None) -> dict[str, Any]:
    """The job's error output: a message a user can act on, and refresh_worker when needed."""
    if isinstance(exc, UserError):
        return {"error": str(exc)}
    if isinstance(exc, WorkerStopping | JobCancelled):
        log.warning("job %s abandoned: %s", job_id, exc)
        return {"error": f"{exc} (job {job_id})"}
    if isinstance(exc, StorageError | ConfigError | ModelMissingError):
        log.error("job %s failed: %s", job_id, exc)
        return {"error": f"{exc} (job {job_id})"}
    where = f" during {stage}" if stage else ""
    broken = is_broken(exc)
    log.error("job %s failed%s", job_id, where, exc_info=exc)
    detail = f"{type(exc).__name__}: {exc}"[:500]
    if broken:
        return {
            "error": f"the worker's GPU or models failed{where} ({detail}); this worker is "
            f"being replaced, retry the job (job {job_id})",
            "refresh_worker": True,
        }
    hint = "" if isinstance(exc, RuntimeFailure) else "internal error: "
    return {
        "error": f"{hint}the job failed{where}: {detail}; the request was accepted, so "
        f"retrying may help, and if it keeps failing report the job id (job {job_id})"
    }


class Handler:
    """RunPod handler: one job dict in, a JSON-serialisable dict out."""

    def __init__(self, engines: Engines, storage: Storage, settings: Settings,
                 report: ProgressReporter | None = None, voices: VoiceLibrary | None = None):
        from f5_runtime.voices.library import VoiceLibrary

        self.engines = engines
        self.storage = storage
        self.settings = settings
        # named voices: the volume's voices/ or F5_VOICES_URL, prepared by these engines
        self.voices = voices or VoiceLibrary.from_settings(
            settings, s3=storage.s3, prepare=engines.prepare_reference)
        self.report = report  # runpod.serverless.progress_update on a real endpoint
        self.observe: StageCallback | None = None  # also told of every stage (local commands)

    def __call__(self, job: dict[str, Any]) -> dict[str, Any]:
        return self.run(job)

    @staticmethod
    def error(exc: BaseException, job_id: str) -> dict[str, Any]:
        return error_result(exc, job_id, None)

    def run(self, job: dict[str, Any], control: JobControl | None = None, *,
            on_piece: PieceCallback | None = None) -> dict[str, Any]:
        """One job's output dict, on the calling thread. `control` lets another thread stop
        it; `on_piece` gets its speech as it is made (a stream)."""
        from f5_runtime.flow.job import run_job
        from f5_runtime.serving.shutdown import job_stop_guard

        job_id = str(job.get("id") or "local")
        current: list[str] = []
        reported: set[tuple[str, int | None]] = set()

        def on_stage(stage: Stage) -> None:
            current[:] = [stage.name]
            if self.observe is not None:
                self.observe(stage)
            update = progress(stage)
            if self.report is None or update is None or update[0] in reported:
                return
            reported.add(update[0])
            try:
                self.report(job, update[1])
            except Exception:  # progress is best effort, never a reason to fail
                log.warning("progress update failed for job %s", job_id, exc_info=True)

        try:
            with job_stop_guard(self.settings.stop_grace_seconds):
                result = run_job(job.get("input"), job_id, engines=self.engines,
                                 storage=self.storage, settings=self.settings,
                                 on_stage=on_stage, on_piece=on_piece, voices=self.voices,
                                 control=control)
        except Exception as exc:
            if isinstance(exc, UserError):
                log.info("job %s rejected: %s", job_id, exc)
            return error_result(exc, job_id, current[0] if current else None)
        return result.to_json()


def build_handler(settings: Settings) -> Handler:
    """Everything a worker needs before its first job: engines loaded, storage ready."""
    from f5_runtime.io.outputs import parse_output_url
    from f5_runtime.io.storage import Storage

    if settings.output_url:
        parse_output_url(settings.output_url)  # a bad F5_OUTPUT_URL fails the start, not a job
    t0 = time.perf_counter()
    log.info("loading engines (%s)", settings.engines_factory)
    engines = load_engines(settings)
    log.info("engines ready in %.1f s", time.perf_counter() - t0)
    # The job code (pydantic schema, storage, subtitles) takes ~1 s to import on a CPU: load it
    # now rather than on the first job. Importing the worker module itself stays light.
    importlib.import_module("f5_runtime.flow.job")
    report = None
    if settings.on_runpod:
        from runpod.serverless import progress_update

        report = progress_update
    return Handler(engines, Storage(settings), settings, report)


def run(settings: Settings, rp_argv: list[str]) -> int:
    """Load everything, then hand the process to the RunPod SDK with `rp_argv`."""
    log.info("%s", settings.summary())
    log.info("settings (secrets masked):\n%s", settings.describe())  # for the worker's logs
    config: dict[str, Any]
    try:
        handler = build_handler(settings)
    except ModelMissingError as exc:
        # Exiting would only make RunPod restart this worker for ever; stay up and say why.
        log.error("models missing, every job gets an error saying what to run: %s", exc)
        config = {"handler": models_missing_handler(exc)}
    else:
        if any(flag in rp_argv for flag in ("--rp_serve_api", "--test_input")):
            handler.report = None  # local modes have no RunPod to send progress to
        config = concurrent_config(handler, settings)
        if settings.queue_streaming:
            from f5_runtime.serving.queue_stream import streaming_handler

            # every yield is also returned, as a list, by /run and /runsync (RunPod's aggregate)
            config.update(handler=streaming_handler(config["handler"]),
                          return_aggregate_stream=True)
    if "--rp_log_level" not in rp_argv:
        rp_argv = [*rp_argv, "--rp_log_level", settings.sdk_log_level]
    # RunPod stops workers with SIGTERM. The SDK's job loop and uvicorn (`serve`) replace this
    # handler with their own graceful stop, and each job bounds it (shutdown.py); this one
    # serves the SDK's --test_input mode, which has none: exit through Python at once, so the
    # job still removes its temp dir and the outputs it uploaded (Python's default just dies).
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    import runpod

    sys.argv = [sys.argv[0], *rp_argv]  # the SDK reads its flags from sys.argv
    runpod.serverless.start(config)
    return 0


def concurrent_config(handler: Handler, settings: Settings) -> dict[str, Any]:
    """The SDK's configuration for concurrent jobs (serving/concurrent.py)."""
    from f5_runtime.serving.concurrent import AsyncHandler

    concurrency = settings.concurrency or getattr(handler.engines, "default_concurrency", 1)
    log.info("concurrent jobs: %d (%s)", concurrency,
             "F5_CONCURRENCY" if settings.concurrency else "default for this device")
    concurrent = AsyncHandler(handler, concurrency)
    return {"handler": concurrent, "concurrency_modifier": concurrent.concurrency_modifier}


def models_missing_handler(exc: ModelMissingError) -> Callable[[dict], dict]:
    """The handler of a worker whose models are not on the volume: every job is told what
    is missing and what to run."""
    message = (
        f"this worker cannot serve: the models of its configuration are not on the volume "
        f"({exc}). Run `f5-bootstrap provision` with the endpoint's settings (a provisioning "
        "pod), or restart the workers: `f5-bootstrap run` fetches missing models before it "
        "starts the worker"
    )

    def handler(job: dict) -> dict:
        return {"error": message}

    return handler


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    log.warning("SIGTERM: stopping (a running job is abandoned and cleaned up)")
    raise SystemExit(128 + signum)


def require_runpod_sdk() -> None:
    """The worker needs the RunPod SDK, an extra of the package: say how to get it before any
    model is loaded. (A plain `pip install f5-runtime` serves `synth` and `align` without it.)"""
    if importlib.util.find_spec("runpod") is None:
        raise ConfigError(
            "the RunPod SDK (package `runpod`) is not installed: install f5-runtime with its "
            "runpod extra, `pip install 'f5-runtime[runpod]'` (or `pip install runpod`)"
        )


def start(rp_argv: list[str], what: str) -> int:
    """`run` with the settings from the environment; 2 (and why, logged) if it cannot start."""
    from f5_runtime.config import Settings

    try:
        require_runpod_sdk()
        return run(Settings.from_env(), rp_argv)
    except (ConfigError, ModelMissingError) as exc:
        log.error("cannot start the %s: %s", what, exc)
        return 2


def main(args: argparse.Namespace) -> int:
    return start(runpod_argv(args), "worker")
