"""A job's inputs on local disk: its own temp directory, and each input fetched and decoded
(or only measured) within the limits. Shared by jobs (job.py) and voice registration
(voice_actions.py)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from f5_runtime.errors import InputError
from f5_runtime.io import audio as audio_io
from f5_runtime.io.urls import safe_job_id

if TYPE_CHECKING:
    from f5_runtime.api.request import Limits
    from f5_runtime.config import Settings
    from f5_runtime.engines.types import Audio
    from f5_runtime.io.inputs import Inputs


def load_input(inputs: Inputs, url: str, workdir: Path, what: str, limits: Limits) -> Audio:
    """Fetch one input and decode it (never past the duration limit); InputError when it is
    not usable audio."""
    path = inputs.fetch(url, workdir / what.replace(" ", "_"), what=what)
    audio = audio_io.decode(path.read_bytes(), what=what, max_seconds=limits.max_audio_seconds)
    _check_not_too_short(what, audio.duration)
    return audio


def input_duration(inputs: Inputs, url: str, workdir: Path, what: str, limits: Limits
                   ) -> float:
    """Fetch one input and read only its length (the dubbing source: its samples are unused)."""
    path = inputs.fetch(url, workdir / what.replace(" ", "_"), what=what)
    seconds = audio_io.duration(path.read_bytes(), what=what,
                                max_seconds=limits.max_audio_seconds)
    _check_not_too_short(what, seconds)
    return seconds


def _check_not_too_short(what: str, seconds: float) -> None:
    if seconds < 0.1:
        raise InputError(f"{what} is {seconds * 1000:.0f} ms long: too short to use")


@contextmanager
def job_workdir(settings: Settings, job_id: str) -> Iterator[Path]:
    """The job's own directory on local disk, removed when the job ends, whatever happened."""
    tmp_root = settings.tmp_dir
    if tmp_root is not None:
        tmp_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"f5-job-{safe_job_id(job_id)}-",
                                     dir=tmp_root, ignore_cleanup_errors=True) as path:
        yield Path(path)
