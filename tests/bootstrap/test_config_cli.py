"""Configuration, env identity, exit codes and the command line (in-process where it can be)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from f5_bootstrap.config import DEFAULT_FLASH_ATTN_URL, Config, detect_volume
from f5_bootstrap.envid import compute_env_id, release_of
from f5_bootstrap.errors import EXIT_CODES, BootstrapError

from . import standin
from .conftest import BOOTSTRAP, Bootstrap, clean_environ

README = Path(__file__).resolve().parents[2] / "packages/f5-bootstrap/README.md"
PYPROJECT = README.with_name("pyproject.toml")


def test_defaults_find_the_checkout_and_the_local_volume(repo_root: Path) -> None:
    config = Config.from_env({})
    assert config.bundle == repo_root  # running from a checkout: the repo root
    assert config.flash_attn_url == DEFAULT_FLASH_ATTN_URL
    assert "cu12torch2.8cxx11abiTRUE-cp311-cp311" in DEFAULT_FLASH_ATTN_URL
    assert config.uv_cache_dir == config.root / "cache" / "uv"
    assert config.root == config.volume / "f5tts"
    if not Path("/runpod-volume").is_mount() and not Path("/workspace").is_mount():
        assert detect_volume({}) == Path("~/.cache").expanduser()
        assert config.root == Path("~/.cache/f5tts").expanduser()  # not ~/.cache/f5tts/f5tts


@pytest.mark.parametrize(
    "env", [{}, {"F5_VOLUME": "/mnt/somewhere"}, {"F5_VOLUME": "~/vol", "RUNPOD_POD_ID": "x"}]
)
def test_runtime_default_root_is_the_bootstraps(env: dict[str, str]) -> None:
    """One rule for where the project lives: the runtime without the bootstrap agrees."""
    from f5_runtime.config import Settings

    settings = Settings.from_env(env)
    config = Config.from_env(env)
    assert settings.root == config.root
    assert settings.models_dir == config.root / "models"
    assert settings.locks_dir == config.root / "locks"
    assert settings.root.name == "f5tts" and settings.root.parent.name != "f5tts"


def test_explicit_settings(tmp_path: Path, bundle: Path) -> None:
    config = Config.from_env(
        {
            "F5_VOLUME": str(tmp_path),
            "F5_BUNDLE": str(bundle),
            "F5_LOCK_TIMEOUT_S": "5",
            "F5_LOCK_STALE_S": "1.5",
            "F5_FLASH_ATTN": "0",
            "F5_GC_KEEP_HOURS": "3",
            "F5_UV_LINK_MODE": "copy",
        }
    )
    assert (config.volume, config.bundle) == (tmp_path, bundle)
    assert (config.lock_timeout_s, config.stale_lock_s, config.gc_keep_hours) == (5, 1.5, 3)
    assert config.flash_attn_url is None and config.extras == ()
    assert config.uv_link_mode == "copy"


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("F5_LOCK_TIMEOUT_S", "soon", "F5_LOCK_TIMEOUT_S='soon'"),
        ("F5_LOCK_STALE_S", "-1", "F5_LOCK_STALE_S='-1'"),
        ("F5_UV_LINK_MODE", "symlink", "not one of auto, copy, hardlink"),
        ("F5_BUNDLE", "/nonexistent", "F5_BUNDLE=/nonexistent has no uv.lock"),
    ],
)
def test_bad_settings_are_config_errors(name: str, value: str, says: str) -> None:
    with pytest.raises(BootstrapError) as caught:
        Config.from_env({name: value})
    assert caught.value.step == "config" and caught.value.exit_code == 3
    assert says in str(caught.value)


def test_no_bundle_outside_a_checkout_says_what_to_set(tmp_path: Path) -> None:
    config = Config.from_env({"F5_VOLUME": str(tmp_path)})
    config = Config(**{**config.__dict__, "bundle": None})
    with pytest.raises(BootstrapError, match="F5_BUNDLE is not set") as caught:
        config.require_bundle()
    assert "set F5_BUNDLE" in caught.value.hint


def test_env_id_follows_the_runtimes_resolution_code_id_its_code(
    tmp_path: Path, bundle: Path, uv_bin: str, uv_cache: Path
) -> None:
    """The env changes with what the runtime installs from the lock, and nothing else; the
    code-id with the workspace code the runtime runs."""
    copy = tmp_path / "bundle"
    shutil.copytree(bundle, copy)
    base = release_of(copy, (), None)
    assert re.fullmatch(r"[0-9a-f]{16}", base.env_id)
    assert re.fullmatch(r"[0-9a-f]{16}", base.code_id)
    assert base.members == ("packages/f5-runtime",)
    assert release_of(copy, (), None) == base  # stable
    assert release_of(copy, ["flash-attn=URL"], None).env_id != base.env_id
    # Not part of either: bytecode, docs.
    pycache = copy / "packages/f5-runtime/src/f5_runtime/__pycache__"
    pycache.mkdir(exist_ok=True)
    (pycache / "x.cpython-311.pyc").write_bytes(b"\0")
    (copy / "README.md").write_text("docs do not change the env")
    assert release_of(copy, (), None) == base
    # Code: a new code-id, the same env.
    main = copy / "packages/f5-runtime/src/f5_runtime/__main__.py"
    main.write_text(main.read_text() + "\n# changed\n")
    code_only = release_of(copy, (), None)
    assert code_only.env_id == base.env_id and code_only.code_id != base.code_id
    # A version bump and a new dev tool, relocked: the runtime installs the same packages.
    relock = clean_environ(UV_CACHE_DIR=str(uv_cache))
    standin.write_bundle(copy, root_extra='\n[dependency-groups]\ndev = ["six"]\n')
    runtime = copy / "packages/f5-runtime/pyproject.toml"
    runtime.write_text(runtime.read_text().replace('version = "0.1.0"', 'version = "0.2.0"'))
    standin.lock_bundle(copy, uv_bin, relock)
    assert 'version = "0.2.0"' in (copy / "uv.lock").read_text()
    assert release_of(copy, (), None).env_id == base.env_id
    # Another version of a dependency: another env.
    runtime.write_text(runtime.read_text().replace(standin.DEPENDENCY, "six==1.16.0"))
    standin.lock_bundle(copy, uv_bin, relock)
    assert release_of(copy, (), None).env_id != base.env_id


TINY_LOCK = """
[[package]]
name = "f5-runtime"
version = "0.1.0"
source = { editable = "packages/f5-runtime" }
dependencies = [{ name = "six" }]

[package.optional-dependencies]
runpod = [{ name = "runpod" }]

[[package]]
name = "six"
version = "1.17.0"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "runpod"
version = "1.12.0"
source = { registry = "https://pypi.org/simple" }
dependencies = [{ name = "six" }]
"""


def test_the_resolution_follows_the_runtimes_extras(monkeypatch: pytest.MonkeyPatch) -> None:
    from f5_bootstrap import lockfile

    assert lockfile.RUNTIME_EXTRAS == ("runpod",)  # the worker's SDK is in the env
    monkeypatch.setattr(lockfile, "RUNTIME_EXTRAS", ())
    plain = lockfile.resolve(TINY_LOCK)
    monkeypatch.setattr(lockfile, "RUNTIME_EXTRAS", ("runpod",))
    with_extra = lockfile.resolve(TINY_LOCK)
    assert with_extra.deps_digest != plain.deps_digest
    assert with_extra.members == plain.members == ("packages/f5-runtime",)
    bumped = TINY_LOCK.replace('version = "1.12.0"', 'version = "1.12.1"')
    assert lockfile.resolve(bumped).deps_digest != with_extra.deps_digest
    monkeypatch.setattr(lockfile, "RUNTIME_EXTRAS", ())
    assert lockfile.resolve(bumped).deps_digest == plain.deps_digest  # not in the env


def test_env_id_ignores_the_interpreter_build_string(
    bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rebuilt base image carries the same Python release with another build date and
    compiler in `sys.version`: same env. Another release is another env."""
    base = compute_env_id(bundle)
    monkeypatch.setattr(sys, "version", "3.11.7 (main, Jan  1 2031, 00:00:00) [GCC 99.1.0]")
    assert compute_env_id(bundle) == base
    major, minor, micro = sys.version_info[:3]
    monkeypatch.setattr(sys, "version_info", (major, minor, micro + 1, "final", 0))
    assert compute_env_id(bundle) != base


def test_readme_documents_every_exit_code() -> None:
    text = README.read_text()
    for step, code in EXIT_CODES.items():
        assert re.search(rf"\|\s*{code}\s*\|[^\n]*`{step}`", text), (step, code)


def test_version_help_and_bad_usage() -> None:
    version = subprocess.run([*BOOTSTRAP, "--version"], capture_output=True, text=True)
    # The one version source is the package's metadata (from its pyproject.toml).
    expected = tomllib.loads(PYPROJECT.read_text())["project"]["version"]
    assert version.returncode == 0 and version.stdout.strip() == f"f5-bootstrap {expected}"
    helped = subprocess.run([*BOOTSTRAP, "--help"], capture_output=True, text=True)
    assert helped.returncode == 0
    for command in ("run", "provision", "status", "gc"):
        assert command in helped.stdout
    bad = subprocess.run([*BOOTSTRAP, "launch"], capture_output=True, text=True)
    assert bad.returncode == 2


def test_version_is_read_only_when_asked_for() -> None:
    """`run`'s warm path parses the command line: it must not pay for importlib.metadata."""
    code = ("import sys, f5_bootstrap.cli as cli\n"
            "cli.build_parser().parse_args(['run', '--dry-run'])\n"
            "print('importlib.metadata' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == "False", result.stderr


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "f5-bootstrap"
    result = subprocess.run([script, "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and "f5-bootstrap" in result.stdout


def test_config_error_from_the_command_line(bootstrap: Bootstrap) -> None:
    result = bootstrap.run("run", "--dry-run", F5_LOCK_TIMEOUT_S="never")
    assert result.returncode == 3
    assert result.stderr.startswith("f5-bootstrap: config failed: F5_LOCK_TIMEOUT_S='never'")


def test_unwritable_volume_is_a_config_error(bootstrap: Bootstrap, tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    result = bootstrap.run("provision", F5_VOLUME=str(tmp_path / "a-file" / "volume"))
    assert result.returncode == 3
    assert "config failed: cannot write to the volume" in result.stderr
    assert "hint: check F5_VOLUME" in result.stderr
