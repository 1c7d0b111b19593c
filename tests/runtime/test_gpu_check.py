"""benchmarks/gpu_check.sh: its smoke mode runs every section on CPU with the tiny models and
reports positive figures; the wheels it brings to a foreign GPU machine only fill the machine's
gaps; a missing module is named; the wheel list stays within the lock."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECK = ROOT / "benchmarks" / "gpu_check.py"
STANDINS = ROOT / "benchmarks" / "gpu_standins"


def _positive(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


@pytest.mark.slow
def test_smoke_run_reports_every_section(tmp_path) -> None:
    out = tmp_path / "out"
    env = {**os.environ, "PYTHON": sys.executable, "OUT": str(out),
           "F5_VOLUME": str(tmp_path / "volume"),
           "F5_GPU_WHEELS": str(tmp_path / "no-wheels")}  # this environment has everything
    done = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--smoke"],
                          env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    line = json.loads(done.stdout.strip().splitlines()[-1])
    assert line == json.loads((out / "gpu_check.json").read_text())
    assert line["mode"] == "smoke" and line["complete"] is True
    assert line["device"] == "cpu" and line["tts_model"] == "tiny"
    assert _positive(line["start_to_ready_s"]) and _positive(line["peak_memory_mb"])
    assert set(line["start_stages_s"]) == {"imports", "load", "warm"}
    assert all(_positive(v) for v in line["start_stages_s"].values())
    assert {(c["text"], c["nfe"]) for c in line["rtf"]} == {("short", 2), ("sentence", 2)}
    for case in line["rtf"]:
        assert all(_positive(case[k]) for k in ("rtf", "wall_s", "audio_s", "peak_memory_mb"))
    for case in line["ttfa"]:
        assert all(_positive(case[k]) for k in ("ttfa_s", "total_s", "audio_s"))
        assert case["ttfa_s"] <= case["total_s"]
    assert [c["in_flight"] for c in line["concurrency"]] == [1, 2]
    for level in line["concurrency"]:
        assert all(_positive(level[k]) for k in
                   ("requests_per_s", "audio_s_per_s", "p50_s", "p95_s", "mean_batch"))
        assert level["p50_s"] <= level["p95_s"]
    # each section is printed as a table when it is done, before the final line
    for heading in ("| start to ready s |", "| text | NFE | audio s |", "| jobs in flight |"):
        assert heading in done.stdout


def _wheel(path: Path, files: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as whl:
        for name, text in files.items():
            whl.writestr(name, text)
    return path


def test_wheels_fill_only_the_machines_gaps(tmp_path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    # a module the machine lacks, one in a wheel's .data/purelib, and a shadow of one it has
    _wheel(wheels / "gapfill-1.0-py3-none-any.whl", {
        "gapfill_demo/__init__.py": "WHERE = 'wheel'\n",
        "gapfill-1.0.data/purelib/gapfill_data.py": "WHERE = 'data'\n",
        "gapfill-1.0.data/scripts/tool": "#!/bin/sh\n",
    })
    _wheel(wheels / "packaging-0.0-py3-none-any.whl", {"packaging/__init__.py": "WHERE = 1\n"})
    site = tmp_path / "site"
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); import gpu_check as g; "
        "from pathlib import Path; g.unpack(Path(sys.argv[2]), Path(sys.argv[3])); "
        "g.use_site(Path(sys.argv[3])); "
        "import gapfill_demo, gapfill_data, packaging, wandb; "
        "print(gapfill_demo.WHERE, gapfill_data.WHERE, hasattr(packaging, 'WHERE'))"
    )
    done = subprocess.run([sys.executable, "-c", probe, str(CHECK.parent), str(wheels), str(site)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["wheel", "data", "False"]  # the machine's packaging won
    assert not (site / "tool").exists()  # scripts are not modules
    assert (site / ".unpacked").read_text().split() == sorted(p.name for p in wheels.iterdir())


def test_a_missing_module_is_named(tmp_path) -> None:
    # -S: no site-packages, as on a machine without our wheels: nothing but the stdlib
    env = {**os.environ, "PYTHONPATH": str(ROOT / "packages" / "f5-runtime" / "src")}
    done = subprocess.run([sys.executable, "-S", str(CHECK), "--smoke", "--out", str(tmp_path)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "cannot import torch" in done.stderr and "gpu_wheels.sh" in done.stderr
    assert not (tmp_path / "gpu_check.json").exists()


def test_wheel_list_is_pinned_by_the_lock() -> None:
    script = (ROOT / "benchmarks" / "gpu_wheels.sh").read_text()
    listed = re.search(r"^packages=\((.*?)\)", script, re.S | re.M).group(1)
    names = {n for line in listed.splitlines() for n in line.split("#")[0].split()}
    locked = {p["name"] for p in tomllib.loads((ROOT / "uv.lock").read_text())["package"]}
    assert {"f5-tts", "vocos", "whisperx", "x-transformers", "librosa"} <= names
    assert names <= locked, f"not in uv.lock: {sorted(names - locked)}"


def test_stand_ins_replace_wandb_and_datasets_only_when_absent() -> None:
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); import gpu_check as g; g.use_site(None); "
        "import wandb, datasets; print(wandb.__file__); print(datasets.__file__); "
        "print(datasets.Dataset.__name__, callable(datasets.load_from_disk))"
    )
    done = subprocess.run([sys.executable, "-S", "-c", probe, str(CHECK.parent)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    wandb_file, datasets_file, names = done.stdout.strip().splitlines()
    assert Path(wandb_file).parent.parent == STANDINS == Path(datasets_file).parent.parent
    assert names == "Dataset True"  # what f5_tts.model.dataset imports from it


def test_wheels_for_another_python_are_not_used(tmp_path) -> None:
    sys.path.insert(0, str(CHECK.parent))
    try:
        import gpu_check
    finally:
        sys.path.remove(str(CHECK.parent))
    this = f"cp3{sys.version_info.minor}"
    for name in ("a-1-py3-none-any.whl", f"b-1-{this}-{this}-manylinux_2_28_x86_64.whl",
                 "c-1-cp39-abi3-manylinux_2_17_x86_64.whl"):
        (tmp_path / name).touch()
    assert gpu_check.wheels_for_this_python(tmp_path)
    (tmp_path / "d-1-cp30-cp30-manylinux_2_28_x86_64.whl").touch()
    assert not gpu_check.wheels_for_this_python(tmp_path)
