"""The runtime contract: the environment every runtime process gets (see the README).

One place for it: the build's healthcheck and fetch-models, and `run`'s exec, all use it.
"""

from __future__ import annotations

import os
from pathlib import Path

from f5_bootstrap.config import Config
from f5_bootstrap.layout import Layout, env_python

# The variables f5-bootstrap sets for the runtime (the contract; see the README).
CONTRACT_VARIABLES = (
    "F5_VOLUME",
    "F5_MODELS_DIR",
    "HF_HOME",
    "TORCH_HOME",
    "NLTK_DATA",
    "F5_REFS_DIR",
    "F5_LOCKS_DIR",
    "F5_ENV_ID",
    "HF_HUB_OFFLINE",
    "PYTHONUNBUFFERED",
)
# ... and the one that puts the release's code (code/<code-id>) first on the runtime's path.
CODE_PATH_VARIABLE = "PYTHONPATH"


def runtime_env(
    config: Config,
    env_id: str,
    code_dir: Path | None = None,
    *,
    offline: bool,
    base: dict[str, str] | None = None,
) -> dict[str, str]:
    """The environment of every runtime process: the caller's, plus the contract variables."""
    layout = Layout(config.root)
    env = dict(os.environ if base is None else base)
    # The image's interpreter settings must not leak into the env.
    env.pop("PYTHONHOME", None)
    env.pop("VIRTUAL_ENV", None)
    env.update(
        F5_VOLUME=str(config.volume),
        F5_MODELS_DIR=str(layout.models),
        HF_HOME=str(layout.models / "hf"),
        TORCH_HOME=str(layout.models / "torch"),
        NLTK_DATA=str(layout.models / "nltk"),
        F5_REFS_DIR=str(layout.refs),
        F5_LOCKS_DIR=str(layout.locks),
        F5_ENV_ID=env_id,
        HF_HUB_OFFLINE="1" if offline else "0",
        PYTHONUNBUFFERED="1",
    )
    if code_dir is not None:
        # Before site-packages (and before whatever the caller had on PYTHONPATH): the
        # release's own f5_runtime and f5_bootstrap, never another release's.
        env[CODE_PATH_VARIABLE] = os.pathsep.join(
            p for p in (str(code_dir), env.get(CODE_PATH_VARIABLE, "")) if p
        )
    return env


def runtime_argv(env_dir: Path, command: str, *args: str) -> list[str]:
    return [str(env_python(env_dir)), "-m", "f5_runtime", command, *args]
