"""Downloads with a size cap: streamed to disk, stopped as soon as they pass the limit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from f5_runtime.errors import InputError

CHUNK_BYTES = 256 * 1024  # streaming read size


def write_capped(chunks: Iterator[bytes], dest: Path, what: str, limit: int) -> None:
    """Stream `chunks` into `dest`, stopping with InputError as soon as they pass `limit`."""
    total = 0
    with dest.open("wb") as out:
        for chunk in chunks:
            total += len(chunk)
            if total > limit:
                raise too_large(what, limit, None)
            out.write(chunk)


def too_large(what: str, limit: int, size: int | None) -> InputError:
    got = f" ({size / 2**20:.1f} MiB)" if size is not None else ""
    return InputError(
        f"{what} is larger than the {limit / 2**20:.0f} MiB limit{got}: send a shorter or "
        "compressed recording (F5_MAX_AUDIO_MB raises the limit)"
    )
