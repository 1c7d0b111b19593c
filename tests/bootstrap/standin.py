"""A tiny stand-in for the real workspace: the bundle the bootstrap tests build envs from.

The stand-in `f5-runtime` implements the runtime contract (healthcheck, fetch-models,
worker) with one small PyPI dependency (six, in a `runpod` extra like the real runtime's
SDK), and reports what happened through files named by F5_TEST_* variables, so tests can
count builds and see what the exec'd worker got.
"""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

DEPENDENCY = "six==1.17.0"

ROOT_PYPROJECT = """\
[project]
name = "tiny-workspace"
version = "0.1.0"
requires-python = ">=3.11"
dependencies = ["f5-runtime"]

[tool.uv.sources]
f5-runtime = {{ workspace = true }}

[tool.uv.workspace]
members = ["packages/*"]

[tool.uv]
package = false
{extra}"""

RUNTIME_PYPROJECT = f"""\
[project]
name = "f5-runtime"
version = "0.1.0"
requires-python = ">=3.11"
dependencies = []

# As in the real runtime, the worker's dependency is an extra: the stand-in imports it on every
# command, so an env synced without `--extra runpod` fails its healthcheck.
[project.optional-dependencies]
runpod = ["{DEPENDENCY}"]

[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"
"""

RUNTIME_MAIN = '''\
"""Stand-in runtime: the contract's three commands, observable through F5_TEST_* files."""

import json
import os
import sys
import time

import six  # the locked dependency: importing it proves the sync installed it


def event(text):
    path = os.environ.get("F5_TEST_EVENTS")
    if path:
        with open(path, "a") as f:
            f.write(f"{text} {os.getpid()}\\n")


def main(argv):
    command = argv[0]
    if command == "healthcheck":
        event("healthcheck")
        if os.environ.get("F5_TEST_HEALTHCHECK_SLEEP"):
            event("healthcheck-sleeping")
            time.sleep(float(os.environ["F5_TEST_HEALTHCHECK_SLEEP"]))
        return int(os.environ.get("F5_TEST_HEALTHCHECK_EXIT", "0"))
    if command == "fetch-models":
        event(f"fetch-models offline={os.environ.get('HF_HUB_OFFLINE')}")
        if os.environ.get("F5_LOAD_FORMAT") == "dummy":
            return 0  # like the runtime: nothing to fetch, nothing written
        models = os.environ["F5_MODELS_DIR"]
        os.makedirs(models, exist_ok=True)
        with open(os.path.join(models, "stand-in.txt"), "w") as f:
            f.write(six.__version__)
        return int(os.environ.get("F5_TEST_FETCH_EXIT", "0"))
    if command == "worker":
        with open(os.environ["F5_TEST_WORKER_OUT"], "w") as f:
            json.dump({"argv": sys.argv, "args": argv[1:], "env": dict(os.environ),
                       "cwd": os.getcwd(), "pid": os.getpid(), "prefix": sys.prefix,
                       "executable": sys.executable, "six": six.__version__,
                       "runtime_file": __file__, "runtime_doc": sys.modules["f5_runtime"].__doc__},
                      f)
        return 0
    return 2


raise SystemExit(main(sys.argv[1:]))
'''


def write_bundle(path: Path, *, variant: str = "", root_extra: str = "") -> Path:
    """The workspace files of a bundle (no lock). `variant` changes the runtime source."""
    runtime = path / "packages" / "f5-runtime"
    package = runtime / "src" / "f5_runtime"
    package.mkdir(parents=True, exist_ok=True)
    (path / "pyproject.toml").write_text(ROOT_PYPROJECT.format(extra=root_extra))
    (runtime / "pyproject.toml").write_text(RUNTIME_PYPROJECT)
    (package / "__init__.py").write_text(f'"""Stand-in runtime{variant}."""\n')
    (package / "__main__.py").write_text(RUNTIME_MAIN)
    return path


def lock_bundle(path: Path, uv: str, env: dict[str, str]) -> None:
    subprocess.run([uv, "lock"], cwd=path, env=env, check=True, capture_output=True)


def build_wheel(directory: Path, *, name: str, version: str, init_source: str) -> Path:
    """A minimal valid wheel holding one package whose __init__ is `init_source`."""
    dist = f"{name}-{version}"
    wheel = directory / f"{dist}-py3-none-any.whl"
    metadata = f"Metadata-Version: 2.1\nName: {name.replace('_', '-')}\nVersion: {version}\n"
    wheel_info = "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    files = {
        f"{name}/__init__.py": init_source,
        f"{dist}.dist-info/METADATA": metadata,
        f"{dist}.dist-info/WHEEL": wheel_info,
    }
    record = "".join(f"{n},,\n" for n in files) + f"{dist}.dist-info/RECORD,,\n"
    with zipfile.ZipFile(wheel, "w") as zf:
        for n, text in files.items():
            zf.writestr(n, text)
        zf.writestr(f"{dist}.dist-info/RECORD", record)
    return wheel
