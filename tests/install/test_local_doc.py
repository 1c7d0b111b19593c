"""docs/local.md stays true to the code: its f5-runtime commands parse with the real parsers,
its example job is valid, and every F5_* variable it names is one the runtime reads."""

from __future__ import annotations

import argparse
import importlib
import json
import re
from pathlib import Path

import pytest
from container.test_deploy_doc import _after, _parses, _shell_lines  # deploy.md's own checks
from f5_runtime import cli
from f5_runtime.api.request import parse_request

REPO_ROOT = Path(__file__).resolve().parents[2]
RUNTIME_SOURCE = REPO_ROOT / "packages" / "f5-runtime" / "src" / "f5_runtime"


@pytest.fixture(scope="module")
def doc() -> str:
    return (REPO_ROOT / "docs" / "local.md").read_text()


def test_runtime_commands_parse(doc: str) -> None:
    runs = [_after(t, "f5-runtime") for t in _shell_lines(doc) if "f5-runtime" in t]
    assert {argv[0] for argv in runs} >= {"--version", "healthcheck", "fetch-models", "synth",
                                          "align", "serve"}
    for command, *rest in runs:
        if command.startswith("-"):
            _parses(cli.build_parser(), [command, *rest])
            continue
        parser = argparse.ArgumentParser(prog=f"f5-runtime {command}")
        importlib.import_module(cli.COMMANDS[command][0]).add_arguments(parser)
        _parses(parser, rest)


def test_example_job_is_valid(doc: str) -> None:
    body = re.search(r"cat > job\.json <<'EOF'\n(.*?)\nEOF", doc, flags=re.S)
    assert body, "local.md lost its example job"
    request = parse_request(json.loads(body.group(1))["input"])
    assert request.text and request.voice_reference_url


def test_every_variable_it_names_is_read_by_the_runtime(doc: str) -> None:
    # the runtime's own modules, and the bootstrap's config it takes its default root from
    # (F5_VOLUME is read there: f5_bootstrap.config.default_root)
    bootstrap_config = REPO_ROOT / "packages/f5-bootstrap/src/f5_bootstrap/config.py"
    sources = [*RUNTIME_SOURCE.rglob("*.py"), bootstrap_config]
    source = "\n".join(p.read_text() for p in sources)
    named = set(re.findall(r"\bF5_[A-Z_]+\b", doc))
    assert {"F5_VOLUME", "F5_LOAD_FORMAT", "F5_MODELS_DIR"} <= named
    unknown = sorted(v for v in named if f'"{v}"' not in source)
    assert not unknown, f"local.md names variables the runtime never reads: {unknown}"


def test_links_resolve(doc: str) -> None:
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", doc):
        if not target.startswith("http"):
            assert (REPO_ROOT / "docs" / target).resolve().exists(), target
