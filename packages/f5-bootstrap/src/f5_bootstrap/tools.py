"""Running the build's tools (uv, the new env's python): output streamed to stdout and the
provisioning log, a timeout that runs while the tool prints nothing, and the whole process
group killed when the tool times out, is interrupted or leaves children behind."""

from __future__ import annotations

import collections
import contextlib
import os
import shlex
import signal
import subprocess
import sys
import threading
from pathlib import Path

from f5_bootstrap.errors import BootstrapError
from f5_bootstrap.progress import Progress

READER_JOIN_S = 5  # seconds to drain a finished tool's output (a grandchild may hold the pipe)
TAIL_LINES = 15  # lines of a failed tool's output quoted in the error

HINTS = {
    "venv": "check that the image's Python ({python}) is intact and the volume is writable",
    "sync": "check access to the package index and free space on the volume (see {log}); "
    "run again: wheels already downloaded to cache/uv are kept",
    "healthcheck": "the new env cannot serve: see the healthcheck output in {log}",
    "fetch-models": "check access to the model hub (and HF_TOKEN for gated models), and free "
    "space; run again: files already fetched are kept (see {log})",
}


def run_tool(
    progress: Progress,
    step: str,
    cmd: list[str],
    *,
    env: dict[str, str],
    log: Path,
    cwd: Path | None = None,
    timeout_s: float | None = None,
) -> None:
    """Run a tool, its output streamed to stdout and the log; raise BootstrapError(step)."""
    progress(f"$ {shlex.join(cmd)}")
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    if cwd is not None:
        cwd.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        cmd,
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        errors="replace",
        start_new_session=True,  # its own process group: killed whole (see below)
    )
    assert proc.stdout is not None
    stdout = proc.stdout

    def stream_output() -> None:
        for line in stdout:
            progress.write(f"    {line}")
            tail.append(line.rstrip())

    # Output is streamed by a thread so that the timeout runs from the start, even while
    # a hung tool prints nothing.
    reader = threading.Thread(target=stream_output, daemon=True)
    reader.start()
    try:
        returncode = proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise BootstrapError(
            step, f"`{shlex.join(cmd[:4])} ...` timed out after {timeout_s:.0f} s", ""
        ) from None
    finally:
        # Timed out, interrupted (SIGTERM), or done but with children left behind: the
        # whole group goes, so that no uv child keeps writing into a staging dir that is
        # about to be removed.
        kill_process_group(proc)
        reader.join(timeout=READER_JOIN_S)
    if returncode != 0:
        hint = HINTS.get(step, "").format(python=sys.executable, log=log)
        last = "\n    ".join(tail)
        raise BootstrapError(
            step,
            f"`{shlex.join(cmd[:4])} ...` exited {returncode}; last output:\n    {last}",
            hint,
        )


def kill_process_group(proc: subprocess.Popen) -> None:
    """SIGKILL the tool's process group (it leads one: start_new_session) and reap it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
