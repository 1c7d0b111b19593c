"""The release workflow builds both packages and publishes them only where it is switched on.
(Its lint, with every workflow's: tests/container/test_workflows.py.)"""

from __future__ import annotations

from pathlib import Path

import yaml

RELEASE = Path(__file__).resolve().parents[2] / ".github" / "workflows" / "release.yml"


def _release() -> dict:
    return yaml.safe_load(RELEASE.read_text())


def _commands(job: dict) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def test_runs_on_version_tags_and_builds_sdist_and_wheel_of_both_packages() -> None:
    release = _release()
    assert release[True]["push"]["tags"] == ["v*"]  # YAML 1.1 reads the key `on` as true
    build = release["jobs"]["build"]
    commands = _commands(build)
    for package in ("f5-runtime", "f5-bootstrap"):
        # `uv build` without --sdist/--wheel makes both; the version check reads each pyproject.
        assert f"uv build --package {package} --out-dir dist" in commands
    assert "f5-runtime f5-bootstrap" in commands, "the tag is checked against both versions"
    uploads = [s for s in build["steps"] if s.get("uses", "").startswith("actions/upload-artifact")]
    assert uploads and uploads[0]["with"]["path"] == "dist/"


def test_attaches_the_files_to_the_github_release() -> None:
    job = _release()["jobs"]["github-release"]
    assert job["needs"] == "build" and job["permissions"] == {"contents": "write"}
    assert 'gh release upload "$TAG" dist/*' in _commands(job)


def test_pypi_trusted_publishing_is_behind_a_switch_that_is_off_by_default() -> None:
    job = _release()["jobs"]["pypi"]
    assert "vars.PUBLISH_TO_PYPI == 'true'" in job["if"]  # unset variable: the job is skipped
    assert job["permissions"] == {"id-token": "write"}, "trusted publishing, no stored token"
    assert any(s.get("uses", "").startswith("pypa/gh-action-pypi-publish@") for s in job["steps"])
    workflow_permissions = _release()["permissions"]
    assert workflow_permissions == {"contents": "read"}, "jobs widen only what they need"
