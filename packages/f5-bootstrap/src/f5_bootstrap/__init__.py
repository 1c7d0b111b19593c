"""f5-bootstrap: builds the F5-TTS runtime env on the volume from the workspace lock.

The version has one source, `version` in pyproject.toml, read back from the installed
package's metadata (`f5-bootstrap --version`, `f5_bootstrap.__version__`). Read on demand
only: importlib.metadata costs ~35 ms, and `run`'s warm path must stay in milliseconds.
"""

DISTRIBUTION = "f5-bootstrap"


def installed_version(distribution: str) -> str:
    """An installed distribution's version, from its metadata (f5-runtime's too)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as metadata_version

    try:
        return metadata_version(distribution)
    except PackageNotFoundError:  # a source tree put on sys.path without installing it
        return "unknown (not installed)"


def version() -> str:
    """The installed f5-bootstrap's version."""
    return installed_version(DISTRIBUTION)


def __getattr__(name: str) -> str:
    if name == "__version__":
        return version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
