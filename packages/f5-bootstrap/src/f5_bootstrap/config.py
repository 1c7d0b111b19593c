"""The bootstrap's configuration: the environment, read once, in this module only.

Every variable is documented in the package README ("Configuration"). Only stdlib here:
this runs on the warm path of every worker start.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from f5_bootstrap.errors import BootstrapError

PROJECT_DIR = "f5tts"  # the project's root directory under the volume
SERVERLESS_VOLUME = Path("/runpod-volume")  # where RunPod mounts a network volume on workers
POD_VOLUME = Path("/workspace")  # ... and on pods
LOCAL_VOLUME = Path("~/.cache")  # a laptop or a RunPod Hub test: the project in ~/.cache/f5tts
RUNTIME_PACKAGE = "packages/f5-runtime"  # the runtime's directory inside the bundle

# The runtime's settings that decide which models it loads (see f5-runtime's README).
MODEL_VARIABLES = (
    "F5_LOAD_FORMAT",
    "F5_TTS_MODEL",
    "F5_LANGUAGES",
    "F5_ASR_MODEL",
    "F5_ALIGN_MODELS",
)

DEFAULT_LOCK_TIMEOUT_S = 1800.0  # how long to wait for another builder before giving up
DEFAULT_STALE_LOCK_S = 60.0  # a holder whose heartbeat is older than this is dead
DEFAULT_GC_KEEP_HOURS = 72.0  # gc removes envs unused for longer than this
# The flash-attn release wheel matching the lock: torch 2.8 (+cu128, new C++ ABI), CPython 3.11.
DEFAULT_FLASH_ATTN_URL = (
    "https://github.com/Dao-AILab/flash-attention/releases/download/v2.8.3/"
    "flash_attn-2.8.3+cu12torch2.8cxx11abiTRUE-cp311-cp311-linux_x86_64.whl"
)


@dataclass(frozen=True)
class Config:
    volume: Path  # F5_VOLUME: the volume mount; the project lives in <volume>/f5tts
    bundle: Path | None  # F5_BUNDLE: workspace pyproject files + uv.lock + f5-runtime source
    lock_timeout_s: float  # F5_LOCK_TIMEOUT_S: give up waiting for a builder after this
    stale_lock_s: float  # F5_LOCK_STALE_S: heartbeat age after which a lock holder is dead
    flash_attn_url: str | None  # F5_FLASH_ATTN_URL; None when F5_FLASH_ATTN=0
    flash_attn_sha256: str | None  # F5_FLASH_ATTN_SHA256: checked with --require-hashes
    gc_keep_hours: float  # F5_GC_KEEP_HOURS: default age for `gc --keep-hours`
    uv_cache_dir: Path  # F5_UV_CACHE_DIR: default <root>/cache/uv, beside the envs
    uv_bin: str | None  # F5_UV: the uv binary; else the `uv` package's, else PATH
    uv_link_mode: str  # F5_UV_LINK_MODE: auto (hardlink when it works, else copy) | copy | hardlink
    # On RunPod with no volume where RunPod mounts one: what is missing (None: fine, or
    # F5_ALLOW_NO_VOLUME=1). Building there would put the env on container disk, lost on exit.
    missing_volume: str | None = None
    # F5_IMAGE_ROOT: a read-only root baked into the image (the volume-less variant); its
    # complete envs are used before the volume's. None: the slim image, no baked env.
    image_root: Path | None = None
    # The runtime's variables that choose its models (MODEL_VARIABLES), as set: a change
    # makes `run` fetch the models of the new choice before it execs the worker.
    model_settings: tuple[tuple[str, str], ...] = ()

    @property
    def root(self) -> Path:
        return self.volume / PROJECT_DIR

    @property
    def extras(self) -> tuple[str, ...]:
        """The accelerator extras chosen: part of the env's identity."""
        return (f"flash-attn={self.flash_attn_url}",) if self.flash_attn_url else ()

    def require_bundle(self) -> Path:
        if self.bundle is None:
            raise BootstrapError(
                "config",
                "no bundle: F5_BUNDLE is not set and f5-bootstrap is not running from a checkout",
                "set F5_BUNDLE to the directory holding the workspace's pyproject.toml, "
                "uv.lock and packages/ (the image bakes it at a fixed path)",
            )
        return self.bundle

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Config:
        env = os.environ if environ is None else environ
        volume = detect_volume(env)
        flash_on = env.get("F5_FLASH_ATTN", "1").strip().lower() not in ("0", "false", "no", "off")
        return cls(
            volume=volume,
            bundle=find_bundle(env.get("F5_BUNDLE")),
            lock_timeout_s=_number(env, "F5_LOCK_TIMEOUT_S", DEFAULT_LOCK_TIMEOUT_S),
            stale_lock_s=_number(env, "F5_LOCK_STALE_S", DEFAULT_STALE_LOCK_S),
            flash_attn_url=(env.get("F5_FLASH_ATTN_URL") or DEFAULT_FLASH_ATTN_URL)
            if flash_on
            else None,
            flash_attn_sha256=env.get("F5_FLASH_ATTN_SHA256") or None,
            gc_keep_hours=_number(env, "F5_GC_KEEP_HOURS", DEFAULT_GC_KEEP_HOURS),
            uv_cache_dir=Path(env["F5_UV_CACHE_DIR"]).expanduser()
            if env.get("F5_UV_CACHE_DIR")
            else volume / PROJECT_DIR / "cache" / "uv",
            uv_bin=env.get("F5_UV") or None,
            uv_link_mode=_choice(env, "F5_UV_LINK_MODE", ("auto", "copy", "hardlink")),
            missing_volume=missing_volume(env, volume),
            image_root=Path(env["F5_IMAGE_ROOT"]).absolute() / PROJECT_DIR
            if env.get("F5_IMAGE_ROOT")
            else None,
            model_settings=tuple((name, env.get(name, "").strip()) for name in MODEL_VARIABLES),
        )

    def require_volume(self) -> None:
        """Before building an env: on RunPod, only onto the volume RunPod mounts."""
        if self.missing_volume:
            raise BootstrapError(
                "config",
                f"{self.missing_volume}: an env built here would land on container disk, "
                "be lost when the container stops, and be rebuilt on every start",
                "attach a network volume (pods: mount path /workspace; endpoints: it is "
                "mounted at /runpod-volume), or use the image variant with the env built in "
                "(.runpod/Dockerfile), or set F5_ALLOW_NO_VOLUME=1 to build on container disk",
            )


def detect_volume(env: Mapping[str, str]) -> Path:
    """F5_VOLUME, else the serverless mount, else a pod's volume, else a local directory."""
    if env.get("F5_VOLUME"):
        return Path(env["F5_VOLUME"]).expanduser().absolute()
    if os.path.ismount(SERVERLESS_VOLUME):
        return SERVERLESS_VOLUME
    on_pod = bool(env.get("RUNPOD_POD_ID")) and POD_VOLUME.is_dir()
    if os.path.ismount(POD_VOLUME) or on_pod:
        return POD_VOLUME
    return LOCAL_VOLUME.expanduser()


def missing_volume(env: Mapping[str, str], volume: Path) -> str | None:
    """On RunPod (RUNPOD_ENDPOINT_ID: a serverless worker; RUNPOD_POD_ID: a pod), the volume
    must be where RunPod mounts it, unless F5_VOLUME names one or F5_ALLOW_NO_VOLUME=1."""
    if env.get("F5_VOLUME") or _flag(env, "F5_ALLOW_NO_VOLUME"):
        return None
    if env.get("RUNPOD_ENDPOINT_ID"):
        if volume == SERVERLESS_VOLUME:
            return None
        return (
            "this is a RunPod serverless worker (RUNPOD_ENDPOINT_ID is set) and no network "
            f"volume is mounted at {SERVERLESS_VOLUME}"
        )
    if env.get("RUNPOD_POD_ID") and volume != POD_VOLUME:
        return f"this is a RunPod pod (RUNPOD_POD_ID is set) and no volume is at {POD_VOLUME}"
    return None
def default_root(env: Mapping[str, str]) -> Path:
    """<volume>/f5tts: the one rule for where the project lives, for both packages."""
    return detect_volume(env) / PROJECT_DIR


def is_bundle(path: Path) -> bool:
    return (path / "uv.lock").is_file() and (path / RUNTIME_PACKAGE / "pyproject.toml").is_file()


def find_bundle(explicit: str | None) -> Path | None:
    """F5_BUNDLE, else the checkout this package runs from (walk up to the workspace root)."""
    if explicit:
        bundle = Path(explicit).expanduser().absolute()
        if not is_bundle(bundle):
            raise BootstrapError(
                "config",
                f"F5_BUNDLE={explicit} has no uv.lock or no {RUNTIME_PACKAGE}/pyproject.toml",
                "point F5_BUNDLE at the workspace root that holds uv.lock and packages/",
            )
        return bundle
    for parent in Path(__file__).resolve().parents:
        if (parent / "pyproject.toml").is_file() and is_bundle(parent):
            return parent
    return None


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value < 0:
        raise BootstrapError("config", f"{name}={raw!r} is not a non-negative number", "")
    return value


def _flag(env: Mapping[str, str], name: str) -> bool:
    return env.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    """One of `choices`; the first is the default."""
    value = (env.get(name) or choices[0]).strip().lower()
    if value not in choices:
        raise BootstrapError("config", f"{name}={value!r} is not one of {', '.join(choices)}", "")
    return value
