"""The page travels as package data: a wheel of f5-runtime carries serving/web/."""

from __future__ import annotations

import os
import subprocess
import zipfile
from pathlib import Path

import uv

REPO_ROOT = Path(__file__).resolve().parents[2]
PAGE = ("index.html", "app.js", "style.css")


def test_the_wheel_carries_the_page(tmp_path: Path) -> None:
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    subprocess.run([uv.find_uv_bin(), "build", "--wheel", "--package", "f5-runtime",
                    "--out-dir", tmp_path], cwd=REPO_ROOT, env=env, check=True,
                   capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("f5_runtime-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in PAGE:
        assert f"f5_runtime/serving/web/{name}" in names, sorted(names)
        source = REPO_ROOT / "packages/f5-runtime/src/f5_runtime/serving/web" / name
        assert zipfile.ZipFile(wheel).read(f"f5_runtime/serving/web/{name}") == source.read_bytes()
