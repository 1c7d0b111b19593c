"""The image variant for endpoints without a network volume (.runpod/Dockerfile, what the RunPod
Hub builds): built for real with buildah on the stand-in base, from a small stand-in workspace
(the bootstrap tests' bundle: one tiny dependency instead of 8 GB), then started as a
serverless worker with no volume: it must run the env built into the image, not build one.

The stand-in runtime records what its `worker` got (F5_TEST_WORKER_OUT) and every
healthcheck / fetch-models it ran (F5_TEST_EVENTS), so "no build at start" is observable.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import uv
from bootstrap import standin
from test_container_image import (
    STANDIN_BASE,
    STANDIN_PYTHON,
    _ensure_buildah,
    _run,
)

pytestmark = [pytest.mark.container, pytest.mark.slow]

CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
IMAGE_ROOT = "/opt/f5tts"


def _standin_context(repo_root: Path, context: Path) -> None:
    """The build context the Hub would see, with the stand-in workspace as the bundle."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("F5_", "UV_", "VIRTUAL_"))}
    env["UV_PYTHON_DOWNLOADS"] = "never"
    standin.write_bundle(context)
    standin.lock_bundle(context, uv.find_uv_bin(), env)
    (context / ".python-version").write_text("3.11\n")
    wheels = _run([str(repo_root / "container" / "prepare-wheels.sh"),
                   str(context / "container" / "wheels")])  # fmt: skip
    assert wheels.returncode == 0, wheels.stderr


@pytest.fixture(scope="module")
def baked_image(repo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    _ensure_buildah(repo_root)
    base = _run([str(Path(__file__).parent / "make-standin-base.sh"), STANDIN_BASE])
    assert base.returncode == 0, base.stderr
    context = tmp_path_factory.mktemp("baked-context")
    _standin_context(repo_root, context)
    tag = f"localhost/f5-tts-runpod-baked:{uuid.uuid4().hex[:8]}"
    # The CA bundle: this machine's HTTPS goes through a proxy only the host trusts (a mount
    # and a build argument the Dockerfile documents for that case; nothing lands in the image).
    build = _run(
        [
            "buildah", "bud", "--isolation", "chroot", "--pull-never",
            "--platform", "linux/amd64",
            "--volume", f"{CA_BUNDLE}:{CA_BUNDLE}:ro",
            "--build-arg", f"SSL_CERT_FILE={CA_BUNDLE}",
            "--build-arg", f"BASE_IMAGE={STANDIN_BASE}",
            "--build-arg", f"BASE_PYTHON={STANDIN_PYTHON}",
            "--file", str(repo_root / ".runpod" / "Dockerfile"), "--tag", tag, str(context),
        ]
    )  # fmt: skip
    assert build.returncode == 0, f"{build.stdout[-4000:]}\n{build.stderr[-4000:]}"
    try:
        yield tag
    finally:
        _run(["podman", "rmi", "--force", tag])


def test_baked_image_runs_a_job_without_a_volume_or_a_build(
    baked_image: str, tmp_path: Path, record_property
) -> None:
    size = int(_run(["podman", "image", "inspect", "--format", "{{.Size}}", baked_image]).stdout)
    record_property("baked_standin_image_size_mb", round(size / 1e6, 1))
    print(f"\nbaked image (stand-in lock) size: {size / 1e6:.1f} MB uncompressed")

    created = _run(["buildah", "from", "--pull-never", baked_image])
    assert created.returncode == 0, created.stderr
    ctr = created.stdout.strip()
    out = tmp_path / "out"
    out.mkdir()
    env = {
        "RUNPOD_ENDPOINT_ID": "hub-test",  # a serverless worker: a build would be refused
        "F5_TEST_EVENTS": "/out/events.txt",
        "F5_TEST_WORKER_OUT": "/out/worker.json",
    }
    env_args = [arg for key, value in env.items() for arg in ("--env", f"{key}={value}")]

    def in_image(*argv: str) -> subprocess.CompletedProcess[str]:
        return _run(["buildah", "run", "--isolation", "chroot", "--volume", f"{out}:/out",
                     *env_args, ctr, "--", *argv])  # fmt: skip

    try:
        listing = in_image("ls", "-A", f"{IMAGE_ROOT}/f5tts")
        assert listing.stdout.split() == ["code", "envs"], "the build left caches, locks or logs"

        first = in_image("f5-bootstrap", "run", "--", "--test_input", '{"input": {}}')
        assert first.returncode == 0, first.stdout + first.stderr
        report = json.loads((out / "worker.json").read_text())
        assert report["prefix"].startswith(f"{IMAGE_ROOT}/f5tts/envs/"), report["prefix"]
        assert report["args"] == ["--test_input", '{"input": {}}']
        assert report["six"] == "1.17.0"
        # No volume: models, refs and locks on container disk.
        assert report["env"]["F5_MODELS_DIR"] == "/root/.cache/f5tts/models"
        events = (out / "events.txt").read_text().split("\n")
        assert [e.rsplit(" ", 1)[0] for e in events if e] == ["fetch-models offline=0"], events

        second = in_image("f5-bootstrap", "run", "--", "again")
        assert second.returncode == 0, second.stdout + second.stderr
        assert json.loads((out / "worker.json").read_text())["args"] == ["again"]
        events = [e for e in (out / "events.txt").read_text().split("\n") if e]
        assert len(events) == 1, f"the second start built or fetched again: {events}"
    finally:
        _run(["buildah", "rm", ctr])
