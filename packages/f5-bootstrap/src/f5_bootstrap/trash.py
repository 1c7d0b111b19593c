"""Deleting an env or code dir: renamed out of place first (atomic), then removed, so no
worker ever finds a partly deleted one where a complete one was."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from f5_bootstrap.layout import TRASH_PREFIX


def remove_tree(path: Path) -> None:
    trash = path.parent / f"{TRASH_PREFIX}{path.name}-{uuid.uuid4().hex[:8]}"
    try:
        os.rename(path, trash)
    except FileNotFoundError:
        return
    shutil.rmtree(trash, ignore_errors=True)


def empty_trash(parent: Path) -> None:
    """What an interrupted earlier removal left."""
    for trash in parent.glob(f"{TRASH_PREFIX}*") if parent.is_dir() else []:
        shutil.rmtree(trash, ignore_errors=True)
