"""`fetch-models` takes locks/models.lock with the volume's one lease protocol
(f5_bootstrap.lock): a waiter never breaks a fetch that runs far longer than F5_LOCK_STALE_S,
because the fetch keeps its heartbeat moving."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from f5_bootstrap.lock import VolumeLock, read_holder
from f5_runtime.config import Settings
from f5_runtime.models import manifest as models

STALE_S = 1.0


def test_a_fetch_three_times_longer_than_the_stale_timeout_is_not_broken(
    model_hub, tmp_path, tiny_wav2vec2_dir, tiny_whisper_dir
):
    model_hub.delay_s = 0.4  # ~20 requests: the fetch takes well over 3 x STALE_S
    env = model_hub.env(
        tmp_path / "volume",
        F5_ALIGN_MODELS=f"en={tiny_wav2vec2_dir}",  # local: keeps the child's imports light
        F5_ASR_MODEL=str(tiny_whisper_dir),
        F5_LOCK_STALE_S=str(STALE_S),
    )
    settings = Settings.from_env(env)
    lock_file = settings.locks_dir / "models.lock"
    fetch = subprocess.Popen(
        [sys.executable, "-m", "f5_runtime", "fetch-models"],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while read_holder(lock_file) is None:  # the fetch holds the lease, with a holder file
            assert fetch.poll() is None, fetch.stdout.read()
            assert time.monotonic() < deadline, "fetch-models never took the lease"
            time.sleep(0.05)
        assert read_holder(lock_file).what == "f5-runtime fetch-models"
        lines: list[str] = []
        waiter = VolumeLock(lock_file, what="a bootstrap", stale_s=STALE_S, log=lines.append)
        started = time.monotonic()
        waiter.acquire(300)
        waited = time.monotonic() - started
        # The fetch had finished its work when the lease came free: every model recorded.
        fetched = set(models.read_lock(settings))
        waiter.release()
        out, _ = fetch.communicate(timeout=120)
    finally:
        if fetch.poll() is None:
            fetch.kill()
            fetch.communicate()
    assert fetch.returncode == 0, out
    assert fetched == {m.name for m in models.all_models(settings)}, "taken while fetching"
    assert waited > 3 * STALE_S, waited
    assert not any("breaking" in line for line in lines), lines
    assert "fetch-models: " in out and " 0 missing" in out
