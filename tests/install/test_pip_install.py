"""`pip install f5-runtime` on a developer's box: outside the workspace, on Python 3.11 and 3.12.

The two packages are built (sdist + wheel) as a release would build them, then, in a fresh
venv per interpreter:
- pip resolves them (`pip install --dry-run`: only metadata is fetched), the `runpod` extra
  included; uv resolves the other ways a user installs: a local path and a git URL;
- uv installs the wheels for real, with the project's uv cache (UV_CACHE_DIR as set for the
  run), so CI does not download the 4 GB of wheels a second time;
- with no RunPod variables and a temp F5_VOLUME: `--version`, `healthcheck`, a dummy-weights
  `synth` that writes a WAV and subtitles, `worker` failing clearly without the extra, and
  (after installing the extra) `worker --test_input` running a whole job.

Both wheels are always installed: f5-runtime may come to depend on f5-bootstrap, and until
they are on the package index a user installs both from files or git.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import time
import tomllib
from pathlib import Path

import pytest
import soundfile as sf
import uv

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("f5-runtime", "f5-bootstrap")
PYTHONS = ("3.11", "3.12")
# Variables of the dev/CI environment that must not leak into the user's box.
DROPPED_PREFIXES = ("RUNPOD_", "BUCKET_", "AWS_", "F5_", "HF_", "UV_PROJECT", "PYTHON")
DROPPED = {"VIRTUAL_ENV", "TORCH_HOME", "NLTK_DATA", "CONDA_PREFIX"}

pytestmark = pytest.mark.slow


def declared_version(package: str) -> str:
    pyproject = REPO_ROOT / "packages" / package / "pyproject.toml"
    return tomllib.loads(pyproject.read_text())["project"]["version"]


# Prints "3 11 base" (or "... venv" inside a virtualenv, which the test must not build from).
PROBE = ("import sys; "
         "print(*sys.version_info[:2], 'base' if sys.prefix == sys.base_prefix else 'venv')")


def find_python(minor: str) -> str | None:
    """A working base (not venv) `python3.X`: on PATH (a pyenv shim only counts if it runs),
    in the usual system places, in pyenv's versions, or installed by `uv python install`."""
    root = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    managed = subprocess.run(
        [uv.find_uv_bin(), "python", "find", "--python-preference", "only-managed", minor],
        capture_output=True, text=True, env=uv_env(), timeout=60).stdout.strip()
    candidates = [shutil.which(f"python{minor}"), f"/usr/bin/python{minor}",
                  f"/usr/local/bin/python{minor}",
                  *sorted(glob.glob(f"{root}/versions/{minor}.*/bin/python{minor}"), reverse=True),
                  managed]
    for candidate in filter(None, candidates):
        try:
            out = subprocess.run([candidate, "-c", PROBE], capture_output=True, text=True,
                                 timeout=30)
        except OSError:
            continue
        if out.returncode == 0 and out.stdout.split() == [*minor.split("."), "base"]:
            return candidate
    return None


def run(cmd: list[str], *, env: dict[str, str], cwd: Path, timeout: float = 900,
        ok: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)
    if ok:
        tail = f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        assert proc.returncode == 0, f"{cmd[:3]} failed:\n{tail}"
    return proc


def uv_env() -> dict[str, str]:
    """The caller's uv settings (UV_CACHE_DIR: the project's cache), never a Python download."""
    env = {k: v for k, v in os.environ.items() if k not in DROPPED}
    return {**env, "UV_PYTHON_DOWNLOADS": "never"}


def user_env(venv: Path, volume: Path) -> dict[str, str]:
    """A developer's shell with the venv activated: no RunPod, no bootstrap variables."""
    env = {k: v for k, v in os.environ.items()
           if k not in DROPPED and not k.startswith(DROPPED_PREFIXES)}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", VIRTUAL_ENV=str(venv),
               F5_VOLUME=str(volume), F5_LOAD_FORMAT="dummy", F5_TTS_MODEL="tiny")
    return env


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """sdist and wheel of both packages, built by `uv build` as the release workflow does."""
    out = tmp_path_factory.mktemp("dist")
    for package in PACKAGES:
        run([uv.find_uv_bin(), "build", "--package", package, "--out-dir", out],
            env=uv_env(), cwd=REPO_ROOT, timeout=300)
    built = {}
    for package in PACKAGES:
        stem = f"{package.replace('-', '_')}-{declared_version(package)}"
        assert (out / f"{stem}.tar.gz").is_file(), f"no sdist for {package}: {os.listdir(out)}"
        built[package] = out / f"{stem}-py3-none-any.whl"
        assert built[package].is_file(), f"no wheel for {package}: {os.listdir(out)}"
    return built


@pytest.fixture
def venv(tmp_path: Path):
    """Where the test venv goes; removed afterwards (8 GB when uv has to copy from its cache)."""
    yield tmp_path / "venv"
    shutil.rmtree(tmp_path / "venv", ignore_errors=True)


@pytest.mark.parametrize("minor", PYTHONS)
def test_installs_and_runs_outside_the_workspace(minor: str, dist: dict[str, Path],
                                                 venv: Path, tmp_path: Path) -> None:
    python = find_python(minor)
    if python is None:
        pytest.skip(f"no Python {minor} interpreter here (looked for python{minor} on PATH, in "
                    f"/usr/bin, pyenv's versions and uv's): install one (e.g. `uv python "
                    f"install {minor}`) to check the {minor} install")
    uv_bin, timings = uv.find_uv_bin(), {}
    work = tmp_path / "work"
    work.mkdir()
    runtime_wheel, bootstrap_wheel = str(dist["f5-runtime"]), str(dist["f5-bootstrap"])
    with_extra = f"f5-runtime[runpod] @ {dist['f5-runtime'].as_uri()}"

    started = time.perf_counter()
    run([uv_bin, "venv", "--seed", "--python", python, venv], env=uv_env(), cwd=work)
    venv_python = venv / "bin" / "python"

    # pip itself resolves the wheels, the runpod extra included (metadata only, no install).
    report = work / "pip-report.json"
    run([venv_python, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
         "--report", report, with_extra, bootstrap_wheel], env=uv_env(), cwd=work)
    resolved = {item["metadata"]["name"].lower(): item["metadata"]["version"]
                for item in json.loads(report.read_text())["install"]}
    assert resolved["torch"] == "2.8.0" and resolved["f5-tts"] == "1.1.22", resolved
    assert "runpod" in resolved, "the runpod extra did not resolve with pip"
    timings["pip resolve"] = time.perf_counter() - started

    # uv resolves the other forms a user installs from (docs/local.md): local paths; a git
    # URL, alone (uv follows f5-runtime's workspace source to f5-bootstrap in the same
    # repository) or with both URLs as pip takes them (`--no-sources`: pip ignores uv's).
    git, packages = f"git+{REPO_ROOT.as_uri()}#subdirectory=packages", REPO_ROOT / "packages"
    for sources in ([packages / "f5-runtime", packages / "f5-bootstrap"],
                    [f"f5-runtime @ {git}/f5-runtime"],
                    ["--no-sources", f"f5-runtime @ {git}/f5-runtime",
                     f"f5-bootstrap @ {git}/f5-bootstrap"]):  # fmt: skip
        run([uv_bin, "pip", "install", "--dry-run", "--python", venv_python, *sources],
            env=uv_env(), cwd=work)

    # The real install, from the project's uv cache.
    mark = time.perf_counter()
    run([uv_bin, "pip", "install", "--python", venv_python, runtime_wheel, bootstrap_wheel],
        env=uv_env(), cwd=work)
    timings["install"] = time.perf_counter() - mark
    where = run([venv_python, "-c", "import f5_runtime; print(f5_runtime.__path__[0])"],
                env=user_env(venv, tmp_path / "vol"), cwd=work).stdout.strip()
    assert Path(where).is_relative_to(venv), f"f5_runtime imported from {where}, not the venv"

    env = user_env(venv, tmp_path / "vol")
    for package in PACKAGES:
        version = run([package, "--version"], env=env, cwd=work).stdout.strip()
        assert version == f"{package} {declared_version(package)}"

    mark = time.perf_counter()
    health = run(["f5-runtime", "healthcheck", "--json"], env=env, cwd=work)
    assert json.loads(health.stdout)["python"].startswith(f"{minor}.")
    timings["healthcheck"] = time.perf_counter() - mark

    mark = time.perf_counter()
    voice = run([venv_python, "-c", "import f5_tts; print(f5_tts.__path__[0])"], env=env,
                cwd=work).stdout.strip() + "/infer/examples/basic/basic_ref_en.wav"
    synth = run(["f5-runtime", "synth", "Hello from a plain pip install, on my own machine.",
                 "--voice", voice, "--voice-text",
                 "Some call me nature, others call me mother nature.", "--nfe-steps", "4",
                 "--out", "out/hello.wav", "--subtitles", "out/hello.srt"], env=env, cwd=work)
    samples, rate = sf.read(work / "out/hello.wav")
    assert rate == 24_000 and len(samples) > rate // 2, synth.stderr[-2000:]
    srt = (work / "out/hello.srt").read_text()
    assert srt.startswith("1\n00:00:00,000 --> ") and "Hello" in srt
    assert (tmp_path / "vol" / "f5tts").is_dir(), "the cache root is not under F5_VOLUME"
    timings["synth"] = time.perf_counter() - mark

    # The RunPod worker needs the extra: a clear message without it, a whole job with it.
    worker = run(["f5-runtime", "worker"], env=env, cwd=work, ok=False)
    assert worker.returncode == 2 and "pip install 'f5-runtime[runpod]'" in worker.stderr
    run([uv_bin, "pip", "install", "--python", venv_python, with_extra], env=uv_env(), cwd=work)
    mark = time.perf_counter()
    job = (REPO_ROOT / "test_input.json").read_text()
    worker = run(["f5-runtime", "worker", "--test_input", job], env=env, cwd=work)
    assert "completed successfully" in worker.stdout + worker.stderr
    timings["worker job"] = time.perf_counter() - mark
    timings["total"] = time.perf_counter() - started
    print(f"python {minor} ({python}): " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()))
