"""Where envs may be built and found: the guard that stops a build on RunPod when no volume is
mounted where RunPod mounts one, and the env baked into the image (F5_IMAGE_ROOT) that `run`
uses before the volume's. Real uv builds real venvs from the stand-in bundle."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from f5_bootstrap.config import POD_VOLUME, SERVERLESS_VOLUME, Config, missing_volume
from f5_bootstrap.errors import EXIT_CODES, BootstrapError

from . import standin
from .conftest import Bootstrap, clean_environ

pytestmark = pytest.mark.skipif(
    os.path.ismount(SERVERLESS_VOLUME) or os.path.ismount(POD_VOLUME),
    reason="this machine has a RunPod volume mounted",
)


@pytest.mark.parametrize(
    ("runpod", "volume", "missing"),
    [
        ({"RUNPOD_ENDPOINT_ID": "ep"}, SERVERLESS_VOLUME, False),
        ({"RUNPOD_ENDPOINT_ID": "ep", "RUNPOD_POD_ID": "w"}, POD_VOLUME, True),
        ({"RUNPOD_ENDPOINT_ID": "ep"}, Path("/root/.cache/f5tts"), True),
        ({"RUNPOD_POD_ID": "pod"}, POD_VOLUME, False),
        ({"RUNPOD_POD_ID": "pod"}, Path("/root/.cache/f5tts"), True),
        ({"RUNPOD_POD_ID": "pod", "F5_VOLUME": "/data"}, Path("/data"), False),
        ({"RUNPOD_POD_ID": "pod", "F5_ALLOW_NO_VOLUME": "1"}, Path("/root/.cache"), False),
        ({}, Path("/root/.cache/f5tts"), False),  # a laptop: the local directory is fine
    ],
)
def test_missing_volume_rule(runpod: dict, volume: Path, missing: bool) -> None:
    assert (missing_volume(runpod, volume) is not None) == missing


@pytest.mark.parametrize("where", ["RUNPOD_ENDPOINT_ID", "RUNPOD_POD_ID"])
def test_provision_on_runpod_without_a_volume_stops_and_says_why(
    bootstrap: Bootstrap, tmp_path: Path, where: str
) -> None:
    home = tmp_path / "home"
    result = bootstrap.run("provision", F5_VOLUME=None, HOME=str(home), **{where: "abc123"})
    assert result.returncode == EXIT_CODES["config"], result.stdout + result.stderr
    assert where in result.stderr
    assert "F5_ALLOW_NO_VOLUME=1" in result.stderr and "network volume" in result.stderr
    assert not home.exists(), "nothing may be written on container disk"
    assert bootstrap.builds() == 0


def test_run_on_runpod_without_a_volume_stops_before_building(
    bootstrap: Bootstrap, tmp_path: Path
) -> None:
    result = bootstrap.run("run", F5_VOLUME=None, HOME=str(tmp_path / "h"), RUNPOD_ENDPOINT_ID="e")
    assert result.returncode == EXIT_CODES["config"], result.stdout + result.stderr
    assert "/runpod-volume" in result.stderr
    assert not (tmp_path / "h").exists(), "nothing may be written on container disk"
    assert bootstrap.builds() == 0 and not bootstrap.worker_out.exists()


def test_the_override_builds_on_container_disk(bootstrap: Bootstrap, tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = bootstrap.run(
        "provision", F5_VOLUME=None, HOME=str(home), RUNPOD_ENDPOINT_ID="e", F5_ALLOW_NO_VOLUME="1"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    envs = list((home / ".cache/f5tts/envs").iterdir())
    assert len(envs) == 1 and (envs[0] / ".f5-complete.json").is_file()
    assert bootstrap.builds() == 1


def test_require_volume_raises_a_config_error() -> None:
    config = Config.from_env({"RUNPOD_ENDPOINT_ID": "e", "HOME": "/nonexistent-home"})
    with pytest.raises(BootstrapError) as caught:
        config.require_volume()
    assert caught.value.exit_code == EXIT_CODES["config"]
    Config.from_env({"RUNPOD_ENDPOINT_ID": "e", "F5_ALLOW_NO_VOLUME": "1"}).require_volume()


def _bake(bootstrap: Bootstrap, image_root: Path) -> str:
    """What the variant's Dockerfile does at build time: provision into the image root."""
    built = bootstrap.run("provision", F5_VOLUME=str(image_root))
    assert built.returncode == 0, built.stdout + built.stderr
    (env_id,) = [p.name for p in (image_root / "f5tts/envs").iterdir()]
    return env_id


def test_run_uses_the_image_env_and_fetches_models_to_the_volume_once(
    bootstrap: Bootstrap, tmp_path: Path
) -> None:
    image_root = tmp_path / "image"
    env_id = _bake(bootstrap, image_root)
    assert bootstrap.builds() == 1
    first = bootstrap.popen("run", "--", "one", F5_IMAGE_ROOT=str(image_root))
    out, _ = first.communicate(timeout=120)
    assert first.returncode == 0, out
    report = json.loads(bootstrap.worker_out.read_text())
    assert report["pid"] == first.pid  # exec'd, as from a volume env
    assert report["prefix"] == str(image_root / "f5tts/envs" / env_id)
    assert report["env"]["F5_ENV_ID"] == env_id
    assert report["env"]["F5_MODELS_DIR"] == str(bootstrap.root / "models")
    assert report["args"] == ["one"]
    assert bootstrap.builds() == 1, "no build at start"
    assert not (bootstrap.root / "envs").exists(), "nothing built on the volume"
    assert (bootstrap.root / "models" / "stand-in.txt").is_file()  # models on the volume
    assert bootstrap.events().count("fetch-models offline=0") == 2  # the bake's + one

    second = bootstrap.popen("run", "--", "two", F5_IMAGE_ROOT=str(image_root))
    out, _ = second.communicate(timeout=60)
    assert second.returncode == 0, out
    assert json.loads(bootstrap.worker_out.read_text())["args"] == ["two"]
    assert bootstrap.events().count("fetch-models offline=0") == 2, "models fetched again"
    status = bootstrap.status(F5_IMAGE_ROOT=str(image_root))
    assert status["current_complete"] and status["current_models_ready"]
    assert status["current_env_dir"] == str(image_root / "f5tts/envs" / env_id)


def test_a_code_release_over_the_image_env_runs_its_own_code(
    bootstrap: Bootstrap, bundle_copy: Path, tmp_path: Path
) -> None:
    """A release whose dependencies match the image's env uses it, with its own code dir."""
    image_root = tmp_path / "image"
    env_id = _bake(bootstrap, image_root)
    init = bundle_copy / "packages/f5-runtime/src/f5_runtime/__init__.py"
    init.write_text(init.read_text() + "# another release\n")
    result = bootstrap.run("run", "--dry-run", F5_IMAGE_ROOT=str(image_root),
                           F5_BUNDLE=str(bundle_copy))  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"exec {image_root}/f5tts/envs/{env_id}/" in result.stdout  # the image's env
    assert f"PYTHONPATH={bootstrap.root}/code/" in result.stdout  # this release's code
    assert bootstrap.builds() == 1, "no env built for a code-only release"


def test_image_env_of_other_dependencies_is_not_used(
    bootstrap: Bootstrap, bundle_copy: Path, tmp_path: Path, uv_bin: str, uv_cache: Path
) -> None:
    image_root = tmp_path / "image"
    _bake(bootstrap, image_root)
    runtime = bundle_copy / "packages/f5-runtime/pyproject.toml"
    runtime.write_text(runtime.read_text().replace(standin.DEPENDENCY, "six==1.16.0"))
    standin.lock_bundle(bundle_copy, uv_bin, clean_environ(UV_CACHE_DIR=str(uv_cache)))
    result = bootstrap.run("run", "--dry-run", F5_IMAGE_ROOT=str(image_root),
                           F5_BUNDLE=str(bundle_copy))  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"exec {bootstrap.root}/envs/" in result.stdout  # built on the volume instead
    assert bootstrap.builds() == 2


def test_image_env_needs_no_volume_on_runpod(bootstrap: Bootstrap, tmp_path: Path) -> None:
    """The Hub's case: a serverless worker with no volume runs the image's env (the guard is
    about building, and nothing is built); models go to container disk."""
    image_root = tmp_path / "image"
    env_id = _bake(bootstrap, image_root)
    home = tmp_path / "home"
    result = bootstrap.run("run", "--", "hub", F5_VOLUME=None, HOME=str(home),
                           RUNPOD_ENDPOINT_ID="e", F5_IMAGE_ROOT=str(image_root))  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(bootstrap.worker_out.read_text())
    assert report["prefix"] == str(image_root / "f5tts/envs" / env_id)
    assert report["env"]["F5_MODELS_DIR"] == str(home / ".cache/f5tts/models")
    assert bootstrap.builds() == 1
