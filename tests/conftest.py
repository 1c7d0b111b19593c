"""Fixtures shared by every test directory; each directory's conftest.py adds its own."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


def _no_cuda_reason() -> str | None:
    """Why CUDA tests cannot run here, or None when a GPU is usable."""
    try:
        import torch
    except ImportError:
        return "torch is not installed"
    if not torch.cuda.is_available():
        return f"needs an NVIDIA GPU: torch {torch.__version__} sees no CUDA device"
    return None


def pytest_collection_modifyitems(config, items) -> None:
    """`requires_cuda` tests run where a GPU exists and are skipped, with the reason, elsewhere
    (torch is imported only when such a test was collected)."""
    cuda_tests = [item for item in items if item.get_closest_marker("requires_cuda")]
    reason = _no_cuda_reason() if cuda_tests else None
    for item in cuda_tests if reason else []:
        item.add_marker(pytest.mark.skip(reason=reason))
