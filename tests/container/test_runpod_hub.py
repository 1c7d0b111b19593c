"""The RunPod Hub listing (.runpod/hub.json) and its test job (.runpod/tests.json) have the
shape the Hub reads, name only variables this project reads, and the test job is a request
the runtime accepts (dummy weights, inline data: reference, inline output)."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import pytest
import soundfile

ENV_KEY = re.compile(r"^[A-Z][A-Z0-9_]*$")
INPUT_TYPES = {"string": str, "number": (int, float), "boolean": bool}
MIN_CUDA = (12, 8)  # torch 2.8.0 from PyPI is the +cu128 build
KILLED_AT_START_S = 7 * 60  # RunPod marks a worker unhealthy after this without the override
BUCKET_VARIABLES = {"BUCKET_ENDPOINT_URL", "BUCKET_ACCESS_KEY_ID", "BUCKET_SECRET_ACCESS_KEY"}
FIRST_BUILD_MS = 15 * 60 * 1000  # a first start builds the ~8 GB env: allow at least this


@pytest.fixture(scope="module")
def hub(repo_root: Path) -> dict:
    return json.loads((repo_root / ".runpod" / "hub.json").read_text())


@pytest.fixture(scope="module")
def hub_tests(repo_root: Path) -> dict:
    return json.loads((repo_root / ".runpod" / "tests.json").read_text())


@pytest.fixture(scope="module")
def project_sources(repo_root: Path) -> str:
    files = sorted((repo_root / "packages").glob("*/src/**/*.py"))
    return "\n".join(path.read_text() for path in files)


def _cuda(version: str) -> tuple[int, int]:
    major, minor = version.split(".")
    return int(major), int(minor)


def _env_values(entries: list[dict]) -> dict[str, str]:
    return {entry["key"]: entry["value"] for entry in entries if "value" in entry}


def test_hub_listing_has_the_required_fields(hub: dict) -> None:
    for key in ("title", "description", "type", "category", "config"):
        assert key in hub, f"hub.json lacks {key!r}"
    assert hub["type"] == "serverless"
    assert hub["category"] == "audio"
    assert isinstance(hub["title"], str) and 0 < len(hub["title"]) <= 60
    assert isinstance(hub["description"], str) and hub["description"].strip()


def test_hub_config_asks_for_a_gpu_that_runs_the_locked_torch(hub: dict) -> None:
    config = hub["config"]
    assert config["runsOn"] == "GPU"
    assert config["gpuCount"] == 1
    gpu_ids = config["gpuIds"].split(",")
    assert gpu_ids and all(re.fullmatch(r"[A-Z]+_\d+(_PRO)?", g.strip()) for g in gpu_ids)
    versions = config["allowedCudaVersions"]
    assert versions and all(isinstance(v, str) for v in versions)
    assert all(_cuda(v) >= MIN_CUDA for v in versions), "torch 2.8 cu128 needs CUDA >= 12.8"
    # Without a network volume the env (~8 GB), uv's cache and the models land on this disk.
    assert isinstance(config["containerDiskInGb"], int) and config["containerDiskInGb"] >= 30


def test_hub_env_entries_are_well_formed(hub: dict) -> None:
    keys = [entry["key"] for entry in hub["config"]["env"]]
    assert len(keys) == len(set(keys)), "duplicate env keys"
    for entry in hub["config"]["env"]:
        assert ENV_KEY.match(entry["key"]), entry
        assert ("value" in entry) != ("input" in entry), f"{entry['key']}: value xor input"
        if "value" in entry:
            assert isinstance(entry["value"], str), entry
            continue
        field = entry["input"]
        assert field["type"] in INPUT_TYPES, entry
        assert isinstance(field["name"], str) and field["name"], entry
        assert isinstance(field["description"], str) and field["description"], entry
        if "default" in field:
            assert isinstance(field["default"], INPUT_TYPES[field["type"]]), entry
        if "options" in field:
            values = [option["value"] for option in field["options"]]
            assert all(isinstance(option["label"], str) for option in field["options"])
            assert field.get("default") in values, f"{entry['key']}: default not an option"
        if "advanced" in field:
            assert isinstance(field["advanced"], bool), entry


def test_hub_env_names_only_variables_the_project_reads(hub: dict, project_sources: str) -> None:
    for key in (entry["key"] for entry in hub["config"]["env"]):
        if key.startswith("RUNPOD_"):
            continue  # read by RunPod's platform and SDK, not by this project
        assert f'"{key}"' in project_sources, f"{key} is read by neither package"


def test_hub_exposes_the_bucket_and_raises_the_start_timeout(hub: dict) -> None:
    keys = {entry["key"] for entry in hub["config"]["env"]}
    assert keys >= BUCKET_VARIABLES
    assert "F5_TTS_MODEL" in keys and "F5_OUTPUT_URL" in keys
    init_timeout = int(_env_values(hub["config"]["env"])["RUNPOD_INIT_TIMEOUT"])
    assert init_timeout > KILLED_AT_START_S


def test_hub_presets_set_only_listed_variables(hub: dict) -> None:
    keys = {entry["key"] for entry in hub["config"]["env"]}
    for preset in hub["config"].get("presets", []):
        assert isinstance(preset["name"], str) and preset["name"]
        assert set(preset["defaults"]) <= keys, preset


def test_hub_tests_run_one_job_with_dummy_weights(hub: dict, hub_tests: dict) -> None:
    assert hub_tests["tests"], "tests.json has no test"
    for test in hub_tests["tests"]:
        assert isinstance(test["name"], str) and test["name"]
        assert isinstance(test["input"], dict)
        # A Hub test worker likely has no network volume: its first start builds the env.
        assert isinstance(test["timeout"], int) and test["timeout"] >= FIRST_BUILD_MS
    config = hub_tests["config"]
    assert isinstance(config["gpuTypeId"], str) and config["gpuTypeId"]
    assert config["gpuCount"] == 1
    env = _env_values(config["env"])
    assert all(set(entry) == {"key", "value"} for entry in config["env"])
    assert env["F5_LOAD_FORMAT"] == "dummy"
    assert env["F5_TTS_MODEL"] == "tiny"
    assert int(env["RUNPOD_INIT_TIMEOUT"]) > KILLED_AT_START_S
    assert set(config["allowedCudaVersions"]) <= set(hub["config"]["allowedCudaVersions"])


def test_hub_test_job_is_self_contained(hub_tests: dict) -> None:
    job = hub_tests["tests"][0]["input"]
    assert "output" not in job, "no bucket on the Hub: the result must come back inline"
    header, payload = job["voice_reference_url"].split(",", 1)
    assert header == "data:audio/wav;base64"
    samples, rate = soundfile.read(io.BytesIO(base64.b64decode(payload)))
    assert samples.ndim == 1 and 1.0 <= len(samples) / rate <= 12.0
    assert abs(samples).max() > 0.1, "the reference is silent"


def test_hub_test_job_passes_the_runtime_schema(hub_tests: dict) -> None:
    from f5_runtime.api import request as schema  # one that stops importing fails, never skips
    for test in hub_tests["tests"]:
        request = schema.parse_request(test["input"])
        assert request.text and request.voice_reference_url


def _instructions(dockerfile: str) -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    lines = [line for line in dockerfile.splitlines() if not line.lstrip().startswith("#")]
    return [i.strip() for i in re.sub(r"\\\n\s*", " ", "\n".join(lines)).splitlines() if i.strip()]


def test_hub_dockerfile_shares_the_slim_images_base_bundle_and_entrypoint(repo_root: Path) -> None:
    """The Hub builds `.runpod/Dockerfile` (repository root as context, no build arguments):
    the variant with the env built in. It must start from the same base, carry the same
    bundle and f5-bootstrap, and start the same way as container/Dockerfile."""
    slim = _instructions((repo_root / "container" / "Dockerfile").read_text())
    baked = _instructions((repo_root / ".runpod" / "Dockerfile").read_text())
    shared = [i for i in slim if i.split()[0] in ("ARG", "FROM", "WORKDIR", "COPY", "RUN")]
    shared += [i for i in slim if i.split()[0] in ("ENTRYPOINT", "CMD")]
    for instruction in shared:
        assert instruction in baked, f".runpod/Dockerfile lacks: {instruction}"
    slim_env = next(i for i in slim if i.startswith("ENV "))
    baked_env = next(i for i in baked if i.startswith("ENV "))
    assert set(slim_env.split()[1:]) <= set(baked_env.split()[1:])
    assert {"F5_IMAGE_ROOT=/opt/f5tts", "F5_FLASH_ATTN=0"} <= set(baked_env.split()[1:])
    assert baked[-2:] == slim[-2:] == ['ENTRYPOINT ["f5-bootstrap"]', 'CMD ["run"]']
    provision = [i for i in baked if "f5-bootstrap provision" in i]
    assert len(provision) == 1 and 'F5_VOLUME="${F5_IMAGE_ROOT}"' in provision[0]


def test_hub_has_the_files_the_publishing_guide_asks_for(repo_root: Path) -> None:
    for name in ("hub.json", "tests.json", "Dockerfile", "handler.py", "README.md"):
        assert (repo_root / ".runpod" / name).is_file(), f".runpod/{name} is missing"
    handler = (repo_root / ".runpod" / "handler.py").read_text()
    assert '"f5-bootstrap", "run", "--"' in handler  # the same start as the image's
    compile(handler, "handler.py", "exec")


def test_hub_endpoint_keeps_the_baked_envs_identity(hub: dict) -> None:
    # F5_FLASH_ATTN is part of the env-id; the image is built with 0. A Hub field that set it
    # to 1 would send every worker to build a second env.
    keys = {entry["key"] for entry in hub["config"]["env"]}
    assert "F5_FLASH_ATTN" not in keys and "F5_IMAGE_ROOT" not in keys
