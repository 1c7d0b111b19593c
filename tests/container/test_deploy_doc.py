"""docs/deploy.md stays true to the code: the commands it tells users to run parse with the
real command-line parsers, the pod start commands exist, and its example request is valid."""

from __future__ import annotations

import argparse
import importlib
import json
import re
import shlex
from pathlib import Path

import pytest
from f5_bootstrap.cli import build_parser as bootstrap_parser


@pytest.fixture(scope="module")
def doc(repo_root: Path) -> str:
    return (repo_root / "docs" / "deploy.md").read_text()


def _shell_lines(doc: str) -> list[list[str]]:
    """Every command in the doc's bash blocks, continuation lines joined, comments dropped."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", doc, flags=re.S):
        block = re.sub(r"<<'EOF'\n.*?\nEOF\n", "\n", block, flags=re.S)  # heredoc bodies
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.split(" #")[0].strip()
            if line and not line.startswith("#"):
                commands.append(shlex.split(line))
    return commands


def _parses(parser: argparse.ArgumentParser, argv: list[str]) -> None:
    try:
        parser.parse_args(argv)
    except SystemExit as exc:  # --version and --help exit 0; a bad command line exits 2
        assert exc.code == 0, f"does not parse: {argv}"


def _after(tokens: list[str], marker: str) -> list[str]:
    return tokens[tokens.index(marker) + 1 :]


def test_image_commands_parse_with_the_bootstraps_parser(doc: str) -> None:
    image_runs = [t for t in _shell_lines(doc) if t[:2] == ["docker", "run"] and "$IMAGE" in t]
    assert len(image_runs) >= 4, "expected the smoke checks and the local GPU runs"
    for tokens in image_runs:
        _parses(bootstrap_parser(), _after(tokens, "$IMAGE"))


def test_pod_start_commands_exist(doc: str) -> None:
    starts = re.findall(r"start command:? (?:to )?`([^`]+)`", doc)
    assert {"provision", "status", "gc --dry-run"} <= set(starts)
    for start in starts:
        _parses(bootstrap_parser(), shlex.split(start))


def test_runtime_commands_parse_with_the_runtimes_parsers(doc: str) -> None:
    runs = [t for t in _shell_lines(doc) if "f5-runtime" in t]
    assert {_after(t, "f5-runtime")[0] for t in runs} >= {"fetch-models", "synth", "serve"}
    for tokens in runs:
        command, *rest = _after(tokens, "f5-runtime")
        module_name = importlib.import_module("f5_runtime.cli").COMMANDS[command][0]
        parser = argparse.ArgumentParser(prog=f"f5-runtime {command}")
        importlib.import_module(module_name).add_arguments(parser)
        _parses(parser, rest)


def test_the_original_designs_request_is_valid(doc: str) -> None:
    from f5_runtime.api import request as schema  # one that stops importing fails, never skips
    body = re.search(r"cat > request\.json <<'EOF'\n(.*?)\nEOF", doc, flags=re.S)
    assert body, "deploy.md lost its example request"
    request = schema.parse_request(json.loads(body.group(1))["input"])
    assert request.audio_url and request.voice_reference_url and request.text


def test_exit_code_table_matches_the_bootstrap(doc: str) -> None:
    from f5_bootstrap.errors import EXIT_CODES

    documented = {
        step: int(code)
        for code, steps in re.findall(r"^\| (\d+) \| ([^|]*) \|", doc, flags=re.M)
        for step in re.findall(r"`([^`]+)`", steps)
    }
    assert documented == EXIT_CODES


def test_every_build_command_targets_runpods_platform_and_an_existing_dockerfile(
    doc: str, repo_root: Path
) -> None:
    builds = [t for t in _shell_lines(doc) if t[:2] == ["docker", "build"]]
    assert {t[t.index("-f") + 1] for t in builds} == {"container/Dockerfile", ".runpod/Dockerfile"}
    for tokens in builds:
        assert tokens[tokens.index("--platform") + 1] == "linux/amd64", tokens
        assert (repo_root / tokens[tokens.index("-f") + 1]).is_file()
    local = [t for t in _shell_lines(doc) if t and t[0] == "container/build-local.sh"]
    assert local, "deploy.md lost the build without a Docker engine"
    for tokens in local:
        assert (repo_root / tokens[0]).is_file()
        assert all((repo_root / arg).is_file() for arg in tokens[2:3]), tokens


def test_the_hub_check_job_command_runs(doc: str, repo_root: Path, tmp_path: Path) -> None:
    """The doc's `python3 -c ... > check.json` line, run as written from the repository root."""
    import subprocess

    schema = pytest.importorskip("f5_runtime.api.request")
    (line,) = [t for t in _shell_lines(doc) if t[:2] == ["python3", "-c"]]
    assert line[-2:] == [">", "check.json"]
    result = subprocess.run(line[:3], cwd=repo_root, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    request = schema.parse_request(json.loads(result.stdout)["input"])
    assert request.text and request.voice_reference_url.startswith("data:audio/wav")
