"""f5-runtime: F5-TTS synthesis, WhisperX word timings, subtitles and the RunPod worker.

The version has one source, `version` in pyproject.toml, read back from the installed
package's metadata (`f5-runtime --version`, `f5_runtime.__version__`).
"""

DISTRIBUTION = "f5-runtime"


def version() -> str:
    """The installed f5-runtime's version."""
    from f5_bootstrap import installed_version

    return installed_version(DISTRIBUTION)


def __getattr__(name: str) -> str:
    # Computed on use: importlib.metadata costs ~35 ms, and most imports never ask.
    if name == "__version__":
        return version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
