"""Provisioning: build the env for the bundle (once, under its lock) and fetch the models.

check -> lock -> check again -> remove what a crashed build left -> venv -> sync ->
flash-attn (best effort) -> healthcheck -> fetch-models (models lock) -> marker -> move
into place. Each builder works in its own staging directory and the finished env appears
at envs/<env-id> by one rename, so workers never see a half-built env, and even two
builders (a lock broken in a race) cannot corrupt each other's work.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import signal
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from f5_bootstrap import version
from f5_bootstrap.code import ensure_code
from f5_bootstrap.config import Config
from f5_bootstrap.contract import runtime_argv, runtime_env
from f5_bootstrap.envid import current_release
from f5_bootstrap.errors import BootstrapError
from f5_bootstrap.layout import (
    MARKER,
    STAGING_PREFIX,
    Layout,
    env_python,
    find_complete_code,
    find_complete_env,
    read_marker,
    tree_size,
)
from f5_bootstrap.lock import VolumeLock
from f5_bootstrap.lockfile import RUNTIME_EXTRAS
from f5_bootstrap.models import ensure_models
from f5_bootstrap.progress import Progress
from f5_bootstrap.tools import run_tool
from f5_bootstrap.trash import remove_tree

IMPORT_CHECK_TIMEOUT_S = 600  # importing flash_attn loads torch: slow on a network volume

def find_uv(config: Config) -> str:
    """F5_UV, else the binary of the `uv` package f5-bootstrap depends on, else PATH."""
    if config.uv_bin:
        return config.uv_bin
    try:
        import uv

        return uv.find_uv_bin()
    except (ImportError, FileNotFoundError):
        pass
    found = shutil.which("uv")
    if found is None:
        raise BootstrapError("config", "no uv binary found", "install uv or set F5_UV")
    return found


def provision(config: Config, *, serving: bool = False) -> tuple[Path, Path]:
    """Make sure the bundle's code, env and models are on the volume: (env dir, code dir).

    `serving` (from `run`): a models failure is reported and the worker starts anyway; it
    then answers every job with what is missing and what to run.
    """
    bundle = config.require_bundle()
    layout = Layout(config.root)
    release = current_release(config)
    env_id = release.env_id
    try:
        layout.logs.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BootstrapError(
            "config",
            f"cannot write to the volume at {config.root}: {exc}",
            "check F5_VOLUME and that the volume is mounted read-write",
        ) from exc
    progress = Progress(layout.provision_log(env_id))
    previous_handler = terminate_cleanly()
    try:
        progress(f"env {env_id}, code {release.code_id} (bundle {bundle}, volume {config.volume})")
        code_dir = find_complete_code(layout, release.code_id, config.image_root)
        if code_dir is None:
            code_dir = ensure_code(layout, bundle, release.code_id, release.members, progress)
        env_dir = ensure_env(config, bundle, layout, env_id, code_dir, progress)
        try:
            ensure_models(config, layout, env_dir, env_id, code_dir, progress)
        except BootstrapError as exc:
            if not serving:
                raise
            progress(f"f5-bootstrap: {exc}")
            progress("starting the worker anyway: it answers every job with what to run")
        return env_dir, code_dir
    except BootstrapError as exc:
        progress.log_only(f"f5-bootstrap: {exc}\n")  # the log on the volume says why, too
        raise
    finally:
        progress.close()
        if previous_handler is not None:
            signal.signal(signal.SIGTERM, previous_handler)


def ensure_env(
    config: Config, bundle: Path, layout: Layout, env_id: str, code_dir: Path, progress: Progress
) -> Path:
    """check -> lock -> check again -> remove what a crashed build left -> build."""
    found = find_complete_env(layout, env_id, config.image_root)
    if found is not None:
        progress(f"env is complete ({found})")
        return found
    config.require_volume()  # on RunPod, never build where the env would be lost
    lock = VolumeLock(
        layout.env_lock(env_id), what=f"building env {env_id}", stale_s=config.stale_lock_s,
        log=progress,
    )
    lock.acquire(config.lock_timeout_s)
    with lock:
        found = find_complete_env(layout, env_id)
        if found is not None:
            progress("env was completed by another process while we waited")
            return found
        remove_half_built(layout, env_id, progress)
        Builder(config, bundle, layout, env_id, progress, code_dir=code_dir).build()
    return layout.env_dir(env_id)


def terminate_cleanly() -> signal.Handlers | object | None:
    """SIGTERM (RunPod stopping a worker) unwinds like an error: the tool being run is killed
    and the staging dir removed, instead of both being left to the next builder. Returns the
    handler it replaced."""

    def exit_on_term(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    try:
        return signal.signal(signal.SIGTERM, exit_on_term)
    except ValueError:  # not the main thread: leave signals alone
        return None


def remove_half_built(layout: Layout, env_id: str, progress: Progress) -> None:
    """Under the env's lock: whatever a crashed or killed build left behind goes."""
    leftovers = [
        p for p in layout.envs.glob(f"{STAGING_PREFIX}{env_id}-*") if p.is_dir() or p.is_symlink()
    ]
    env_dir = layout.env_dir(env_id)
    if env_dir.exists():
        leftovers.append(env_dir)  # present but not complete: marker missing, corrupt or wrong
    for path in leftovers:
        progress(f"removing half-built {path.name}")
        remove_tree(path)


def can_hardlink(src_dir: Path, dst_dir: Path) -> bool:
    src_dir.mkdir(parents=True, exist_ok=True)
    probe = src_dir / f".link-probe-{uuid.uuid4().hex}"
    target = dst_dir / probe.name
    try:
        probe.touch()
        os.link(probe, target)
        return True
    except OSError:
        return False
    finally:
        probe.unlink(missing_ok=True)
        target.unlink(missing_ok=True)


class Builder:
    def __init__(
        self,
        config: Config,
        bundle: Path,
        layout: Layout,
        env_id: str,
        progress: Progress,
        *,
        code_dir: Path | None = None,
    ) -> None:
        self.config = config
        self.code_dir = code_dir  # the release's code: the healthcheck imports f5_runtime
        self.bundle = bundle
        self.layout = layout
        self.env_id = env_id
        self.progress = progress
        self.uv = find_uv(config)
        self.staging = layout.envs / f"{STAGING_PREFIX}{env_id}-{uuid.uuid4().hex[:8]}"
        self.python = env_python(self.staging)
        self.timings: dict[str, float] = {}

    def build(self) -> None:
        started = time.monotonic()
        try:
            self.make_venv()
            self.sync()
            flash_attn = self.install_flash_attn()
            self.healthcheck()
            with self.step("finalize"):
                self.finalize(flash_attn, time.monotonic() - started)
        except BaseException:
            # pre-commit's rule: clean up what a failed build made. (A killed one is cleaned up
            # by the next builder, under the lock.)
            shutil.rmtree(self.staging, ignore_errors=True)
            raise

    def make_venv(self) -> None:
        self.layout.envs.mkdir(parents=True, exist_ok=True)
        with self.step("venv"):
            cmd = [self.uv, "venv", "--relocatable", "--no-project", "--python", sys.executable]
            self.run_tool("venv", [*cmd, str(self.staging)], env=self.uv_env(link_mode="copy"))

    def link_mode(self) -> str:
        """Hardlinks from the cache when they work (same filesystem), else copies."""
        if self.config.uv_link_mode != "auto":
            return self.config.uv_link_mode
        return "hardlink" if can_hardlink(self.config.uv_cache_dir, self.staging) else "copy"

    def sync(self) -> None:
        with self.step("sync"):
            link_mode = self.link_mode()
            self.progress(f"link mode {link_mode}, cache {self.config.uv_cache_dir}")
            cmd = [self.uv, "sync", "--frozen", "--no-dev", "--no-editable", "--inexact"]
            # Third-party packages only: the workspace's own code is the release's code dir.
            cmd += ["--compile-bytecode", "--package", "f5-runtime", "--no-install-workspace"]
            cmd += [arg for extra in RUNTIME_EXTRAS for arg in ("--extra", extra)]
            self.run_tool("sync", cmd, env=self.uv_env(link_mode=link_mode), cwd=self.bundle)

    def healthcheck(self) -> None:
        with self.step("healthcheck"):
            self.run_tool(
                "healthcheck",
                runtime_argv(self.staging, "healthcheck"),
                env=runtime_env(self.config, self.env_id, self.code_dir, offline=True),
                cwd=self.layout.root,
            )

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        self.progress(f"{name} ...")
        started = time.monotonic()
        yield
        self.timings[name] = round(time.monotonic() - started, 3)
        self.progress(f"{name} done in {self.timings[name]:.1f} s")

    def uv_env(self, link_mode: str) -> dict[str, str]:
        env = dict(os.environ)
        for name in ("VIRTUAL_ENV", "PYTHONHOME", "UV_PROJECT", "UV_FROZEN", "UV_LOCKED"):
            env.pop(name, None)
        env.update(
            UV_PROJECT_ENVIRONMENT=str(self.staging),
            UV_CACHE_DIR=str(self.config.uv_cache_dir),
            UV_PYTHON_DOWNLOADS="never",  # never a downloaded Python: the image's own
            UV_PYTHON=sys.executable,
            UV_LINK_MODE=link_mode,
            UV_NO_PROGRESS="1",  # progress bars make unreadable logs
        )
        return env

    def run_tool(
        self,
        step: str,
        cmd: list[str],
        *,
        env: dict[str, str],
        cwd: Path | None = None,
        timeout_s: float | None = None,
    ) -> None:
        log = self.layout.provision_log(self.env_id)
        run_tool(self.progress, step, cmd, env=env, cwd=cwd, timeout_s=timeout_s, log=log)

    def install_flash_attn(self) -> dict:
        """Best effort: install, import with the env's python, uninstall if the import fails."""
        url = self.config.flash_attn_url
        if not url:
            return {"wanted": False}
        result: dict = {"wanted": True, "url": url, "installed": False}
        with self.step("flash-attn"):
            if "://" not in url:
                url = Path(url).absolute().as_uri()
            requirement = f"flash-attn @ {url}"
            if self.config.flash_attn_sha256:
                requirement += f" --hash=sha256:{self.config.flash_attn_sha256}"
            requirements = self.staging / ".flash-attn-requirements.txt"
            requirements.write_text(requirement + "\n")
            install = [
                self.uv,
                "pip",
                "install",
                "--python",
                str(self.python),
                "--no-deps",
                "-r",
                str(requirements),
            ]
            if self.config.flash_attn_sha256:
                install.append("--require-hashes")
            try:
                self.run_tool("sync", install, env=self.uv_env(link_mode="copy"))
                self.run_tool(
                    "healthcheck",
                    [str(self.python), "-c", "import flash_attn"],
                    env=runtime_env(self.config, self.env_id, self.code_dir, offline=True),
                    timeout_s=IMPORT_CHECK_TIMEOUT_S,
                )
                result["installed"] = True
            except BootstrapError as exc:
                if self.config.flash_attn_sha256 and "hash mismatch" in exc.message.lower():
                    # The operator named the exact wheel: another one is an error, not a
                    # reason to fall back (a tampered or wrong download must stop the build).
                    raise BootstrapError(
                        "flash-attn",
                        f"the flash-attn wheel at {url} does not match F5_FLASH_ATTN_SHA256="
                        f"{self.config.flash_attn_sha256}: {exc.message}",
                        "check F5_FLASH_ATTN_URL and F5_FLASH_ATTN_SHA256 (the sha256 of the "
                        "wheel file), or unset the sha256 to install without checking",
                    ) from None
                result["error"] = exc.message
                self.progress(
                    "flash-attn is not usable; the runtime will use PyTorch attention "
                    f"({exc.message.splitlines()[0]})"
                )
                self.uninstall_flash_attn()
            finally:
                requirements.unlink(missing_ok=True)
        return result

    def uninstall_flash_attn(self) -> None:
        cmd = [self.uv, "pip", "uninstall", "--python", str(self.python), "flash-attn"]
        with contextlib.suppress(BootstrapError):
            self.run_tool("sync", cmd, env=self.uv_env(link_mode="copy"))

    def finalize(self, flash_attn: dict, build_s: float) -> None:
        marker = {
            "env_id": self.env_id,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "created_unix": time.time(),
            "bootstrap_version": version(),
            "python": sys.version.split()[0],
            "interpreter": sys.executable,
            "bundle": str(self.bundle),
            "healthchecked_with_code": str(self.code_dir) if self.code_dir else None,
            "extras": list(self.config.extras),
            "flash_attn": flash_attn,
            "steps_s": self.timings,
            "build_s": round(build_s, 3),
            "size_bytes": tree_size(self.staging),
        }
        staging_marker = self.staging / f"{MARKER}.tmp"
        staging_marker.write_text(json.dumps(marker, indent=2) + "\n")
        os.replace(staging_marker, self.staging / MARKER)
        env_dir = self.layout.env_dir(self.env_id)
        try:
            os.rename(self.staging, env_dir)
        except OSError as exc:
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY) and read_marker(env_dir):
                self.progress("another builder finished first; keeping its env")
                shutil.rmtree(self.staging, ignore_errors=True)
                return
            raise BootstrapError("finalize", f"could not move the env into place: {exc}") from exc
        self.progress(f"env {self.env_id} complete: {marker['size_bytes'] / 1e9:.2f} GB")
