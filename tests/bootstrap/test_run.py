"""`run` and `provision` on a temp volume: cold build, warm exec, second bundle, relocation,
marker damage. Real uv builds real venvs from the stand-in bundle."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import Bootstrap

pytestmark = pytest.mark.slow  # builds real envs with uv

CONTRACT = {
    "F5_MODELS_DIR": "models",
    "HF_HOME": "models/hf",
    "TORCH_HOME": "models/torch",
    "NLTK_DATA": "models/nltk",
    "F5_REFS_DIR": "refs",
    "F5_LOCKS_DIR": "locks",
}


def worker_report(bootstrap: Bootstrap) -> dict:
    return json.loads(bootstrap.worker_out.read_text())


def test_cold_build_then_warm_exec(bootstrap: Bootstrap) -> None:
    cold = bootstrap.popen("run", "--", "--rp_serve_api", "x y")
    out, _ = cold.communicate(timeout=240)
    assert cold.returncode == 0, out
    report = worker_report(bootstrap)
    # Exec, not a child: the worker runs in the very process we started.
    assert report["pid"] == cold.pid
    assert report["args"] == ["--rp_serve_api", "x y"]
    assert report["six"] == "1.17.0"
    env_id = bootstrap.env_dirs()[0]
    env_dir = bootstrap.root / "envs" / env_id
    assert report["prefix"] == str(env_dir)
    env = report["env"]
    assert env["F5_VOLUME"] == str(bootstrap.volume)
    assert env["F5_ENV_ID"] == env_id
    assert env["HF_HUB_OFFLINE"] == "1"
    assert env["PYTHONUNBUFFERED"] == "1"
    for name, relative in CONTRACT.items():
        assert env[name] == str(bootstrap.root / relative), name
    assert bootstrap.events() == ["healthcheck", "fetch-models offline=0"]
    marker = json.loads((env_dir / ".f5-complete.json").read_text())
    assert marker["env_id"] == env_id
    assert set(marker["steps_s"]) == {"venv", "sync", "healthcheck"}
    # The env holds the third-party packages; the runtime's code is the release's code dir.
    assert not list(env_dir.glob("lib/python3*/site-packages/f5_runtime*"))
    [code_id] = [p.name for p in (bootstrap.root / "code").iterdir()]
    assert report["runtime_file"].startswith(str(bootstrap.root / "code" / code_id) + "/")
    assert env["PYTHONPATH"].split(":")[0] == str(bootstrap.root / "code" / code_id)
    log = (bootstrap.root / "logs" / f"provision-{env_id}.log").read_text()
    for step in ("venv done", "sync done", "healthcheck done", "fetch-models done", "six==1.17.0"):
        assert step in log
    assert "sync done in" in out  # progress goes to stdout too

    bootstrap.worker_out.unlink()
    warm = bootstrap.popen("run", "--", "again")
    out, _ = warm.communicate(timeout=60)
    assert warm.returncode == 0, out
    assert worker_report(bootstrap)["pid"] == warm.pid
    assert worker_report(bootstrap)["args"] == ["again"]
    assert bootstrap.builds() == 1  # warm: nothing rebuilt, nothing re-checked
    assert "f5-bootstrap" not in out  # the warm path is silent
    assert (env_dir / ".f5-last-used").exists()


def test_dry_run_prints_exec_line_and_contract(bootstrap: Bootstrap) -> None:
    assert bootstrap.run("provision").returncode == 0
    result = bootstrap.run("run", "--dry-run", "--", "a", "b c")
    assert result.returncode == 0, result.stderr
    env_id = bootstrap.env_id()
    lines = result.stdout.splitlines()
    python = bootstrap.root / "envs" / env_id / "bin" / "python"
    assert lines[0] == f"exec {python} -m f5_runtime worker a 'b c'"
    printed = dict(line.split("=", 1) for line in lines[1:])
    assert printed["F5_ENV_ID"] == env_id
    assert printed["HF_HUB_OFFLINE"] == "1"
    assert printed["HF_HOME"] == str(bootstrap.root / "models" / "hf")
    assert not bootstrap.worker_out.exists()


def release_with(bundle: Path, text: str) -> None:
    """A code-only release: the runtime's source changes, the lock does not."""
    init = bundle / "packages/f5-runtime/src/f5_runtime/__init__.py"
    init.write_text(f'"""{text}"""\n')


def test_code_only_release_keeps_the_env_and_runs_its_own_code(
    bootstrap: Bootstrap, bundle_copy: Path
) -> None:
    assert bootstrap.run("provision").returncode == 0
    [env_id] = bootstrap.env_dirs()
    marker = (bootstrap.root / "envs" / env_id / ".f5-complete.json").read_text()
    release_with(bundle_copy, "Release 2.")
    result = bootstrap.run("provision", F5_BUNDLE=str(bundle_copy))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "env is complete" in result.stdout and "sync" not in result.stdout
    assert bootstrap.env_dirs() == [env_id]  # one env for both releases, untouched
    assert (bootstrap.root / "envs" / env_id / ".f5-complete.json").read_text() == marker
    assert bootstrap.builds() == 1
    new = bootstrap.status(F5_BUNDLE=str(bundle_copy))
    old = bootstrap.status()
    assert new["current_env_id"] == old["current_env_id"] == env_id
    assert new["current_code_id"] != old["current_code_id"]
    assert new["current_complete"] and old["current_complete"]
    assert {c["code_id"] for c in new["code"]} == {new["current_code_id"], old["current_code_id"]}
    # Old and new releases side by side: each worker runs exactly its own code.
    for bundle, doc in ((bootstrap.bundle, "Stand-in runtime."), (bundle_copy, "Release 2.")):
        proc = bootstrap.popen("run", F5_BUNDLE=str(bundle))
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, out
        report = worker_report(bootstrap)
        assert report["runtime_doc"] == doc
        assert report["prefix"] == str(bootstrap.root / "envs" / env_id)
    assert bootstrap.builds() == 1


def test_env_built_at_one_root_runs_at_another(bootstrap: Bootstrap) -> None:
    """A pod builds at /workspace, the serverless worker mounts /runpod-volume."""
    assert bootstrap.run("provision").returncode == 0
    moved = bootstrap.tmp / "moved-volume"
    bootstrap.volume.rename(moved)
    bootstrap.volume = moved
    proc = bootstrap.popen("run", "--", "moved")
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    report = worker_report(bootstrap)
    assert report["pid"] == proc.pid
    assert report["prefix"].startswith(str(moved))
    assert report["env"]["F5_VOLUME"] == str(moved)
    assert report["six"] == "1.17.0"
    assert bootstrap.builds() == 1  # the moved env was used as it was


@pytest.mark.parametrize("damage", ["missing", "corrupt", "other-env-id", "no-python"])
def test_damaged_env_is_rebuilt(bootstrap: Bootstrap, damage: str) -> None:
    assert bootstrap.run("provision").returncode == 0
    env_dir = bootstrap.root / "envs" / bootstrap.env_dirs()[0]
    marker = env_dir / ".f5-complete.json"
    if damage == "missing":
        marker.unlink()
    elif damage == "corrupt":
        marker.write_text('{"env_id": "trunc')
    elif damage == "other-env-id":
        marker.write_text(json.dumps({"env_id": "0" * 16}))
    else:
        (env_dir / "bin" / "python").unlink()
    result = bootstrap.run("provision")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "removing half-built" in result.stdout
    assert bootstrap.builds() == 2
    assert json.loads(marker.read_text())["env_id"] == env_dir.name
    python = env_dir / "bin" / "python"
    subprocess.run([python, "-c", "import six"], check=True)


def test_dummy_weights_fetch_nothing_and_still_mark_the_models(bootstrap: Bootstrap) -> None:
    result = bootstrap.run("provision", F5_LOAD_FORMAT="dummy")
    assert result.returncode == 0, result.stdout + result.stderr
    assert bootstrap.status(F5_LOAD_FORMAT="dummy")["current_models_ready"]


def test_provision_is_idempotent(bootstrap: Bootstrap) -> None:
    assert bootstrap.run("provision").returncode == 0
    again = bootstrap.run("provision")
    assert again.returncode == 0
    assert "env is complete" in again.stdout
    assert bootstrap.builds() == 1
    shutil.rmtree(bootstrap.root / "envs")
    assert bootstrap.run("provision").returncode == 0
    assert bootstrap.builds() == 2


@pytest.mark.parametrize(("mode", "shared_inode"), [("auto", True), ("copy", False)])
def test_link_mode(bootstrap: Bootstrap, mode: str, shared_inode: bool) -> None:
    """auto hardlinks from the cache when it can (same filesystem here); copy never does."""
    result = bootstrap.run("provision", F5_UV_LINK_MODE=mode)
    assert result.returncode == 0, result.stdout + result.stderr
    expected = "hardlink" if shared_inode else "copy"
    assert f"link mode {expected}, cache {bootstrap.uv_cache}" in result.stdout
    [env_id] = bootstrap.env_dirs()
    six = bootstrap.root / "envs" / env_id / "lib/python3.11/site-packages/six.py"
    assert (six.stat().st_nlink > 1) is shared_inode


def test_changed_model_settings_fetch_before_the_worker_starts(bootstrap: Bootstrap) -> None:
    assert bootstrap.run("provision").returncode == 0
    assert bootstrap.events() == ["healthcheck", "fetch-models offline=0"]
    warm = bootstrap.run("run")
    assert warm.returncode == 0 and "f5-bootstrap" not in warm.stdout  # same models: warm
    changed = bootstrap.run("run", F5_LANGUAGES="en,nl")
    assert changed.returncode == 0, changed.stdout + changed.stderr
    assert "fetch-models ... (models " in changed.stdout and "F5_LANGUAGES=en,nl" in changed.stdout
    assert bootstrap.events()[-1] == "fetch-models offline=0"
    assert worker_report(bootstrap)["env"]["F5_LANGUAGES"] == "en,nl"
    assert bootstrap.builds() == 1  # the env and code were not touched
    assert bootstrap.status(F5_LANGUAGES="en,nl")["current_models_ready"]
    assert not bootstrap.status(F5_LANGUAGES="de")["current_models_ready"]


def test_a_failed_model_fetch_still_starts_the_worker(bootstrap: Bootstrap) -> None:
    """`run`: the worker answers jobs with what is missing; `provision` fails (exit 7)."""
    assert bootstrap.run("provision").returncode == 0
    failing = {"F5_LANGUAGES": "xx", "F5_TEST_FETCH_EXIT": "1"}
    provisioned = bootstrap.run("provision", **failing)
    assert provisioned.returncode == 7
    assert "fetch-models failed" in provisioned.stderr
    served = bootstrap.run("run", "--", "go", **failing)
    assert served.returncode == 0, served.stdout + served.stderr
    assert "starting the worker anyway" in served.stdout
    assert worker_report(bootstrap)["args"] == ["go"]
    assert not bootstrap.status(**failing)["current_models_ready"]


def test_a_code_dir_knows_its_version(bundle_copy: Path, tmp_path: Path) -> None:
    """The code dir is not an installed distribution, yet `f5-runtime --version` (metadata)
    must name the release it holds."""
    import sys

    from f5_bootstrap.code import ensure_code
    from f5_bootstrap.layout import Layout
    from f5_bootstrap.progress import Progress

    pyproject = bundle_copy / "packages/f5-runtime/pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('version = "0.1.0"', 'version = "9.8.7"'))
    code_dir = ensure_code(Layout(tmp_path / "root"), bundle_copy, "c0de", ("packages/f5-runtime",),
                           Progress(tmp_path / "log.txt"))  # fmt: skip
    read = "import importlib.metadata as m; print(m.version('f5-runtime'))"
    found = subprocess.run([sys.executable, "-S", "-c", read], env={"PYTHONPATH": str(code_dir)},
                           capture_output=True, text=True, check=True)  # fmt: skip
    assert found.stdout.strip() == "9.8.7"
