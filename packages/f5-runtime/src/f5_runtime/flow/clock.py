"""The stage clock: which stage a job is in, and how long each one took.

It works like a stopwatch with laps: entering a stage ends the one before, so every moment
between `StageClock()` and `stop()` belongs to exactly one stage, and the timings add up to
the job's `processing_time` (tested). A stage entered again (the chunk loop goes generate ->
vocode -> align once per chunk) adds to its total.

Stages, each meaning one thing:
    validate    the request parsed and checked, the output place chosen
    fetch       inputs downloaded and decoded
    reference   the voice reference prepared (trimmed, clipped, transcribed when needed)
    generate    F5-TTS sampling the chunks' mel spectrograms (entered first without a chunk
                index while the text is split into chunks)
    vocode      Vocos turning mel spectrograms into audio
    align       word times by forced alignment (per chunk, or of a whole recording)
    transcribe  speech recognition of a recording without text (Whisper + alignment)
    assemble    chunks joined (cross-fades), words placed on the output, untimed ones filled
    encode      the audio encoded to the output format
    subtitles   subtitles rendered
    publish     outputs uploaded (or inlined) and the job's temp dir removed
    wait        an HTTP stream paused between chunks (other requests' turns on the device,
                the client reading)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

# The stage whose progress is worth telling chunk by chunk (how far a long job is); the others
# are told once per job.
PROGRESS_PER_CHUNK = "generate"


@dataclass(frozen=True)
class Stage:
    """A stage being entered; `chunk` (0-based) and `chunks` for the per-chunk stages."""

    name: str
    chunk: int | None = None
    chunks: int | None = None

    @property
    def progress_key(self) -> tuple[str, int | None] | None:
        """What a progress report tells once: (name, chunk) for PROGRESS_PER_CHUNK, (name,
        None) for the others; None while the chunks are being planned (no chunk yet)."""
        if self.name != PROGRESS_PER_CHUNK:
            return (self.name, None)
        return None if self.chunk is None else (self.name, self.chunk)


StageCallback = Callable[[Stage], None]


class StageClock:
    def __init__(self, on_stage: StageCallback | None = None):
        self.on_stage = on_stage
        self.timings: dict[str, float] = {}
        self.current: str | None = None
        self._chunk: int | None = None
        self.started = self._lap = time.perf_counter()
        self.total: float | None = None

    def enter(self, name: str, chunk: int | None = None, chunks: int | None = None) -> None:
        """End the current stage and start `name`; tells `on_stage` when the stage or the
        chunk changed (not when the same one is entered again)."""
        # the first stage also takes the moments since the clock started
        now = self._close_lap() if self.current is not None else self._lap
        changed = (name, chunk) != (self.current, self._chunk)
        self.current, self._chunk, self._lap = name, chunk, now
        if changed and self.on_stage is not None:
            self.on_stage(Stage(name, chunk, chunks))

    def stop(self) -> float:
        """End the last stage; the total time since the clock started (once: later calls
        return the same)."""
        if self.total is None:
            now = self._close_lap()
            self.current = None
            self.total = now - self.started
        return self.total

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def _close_lap(self) -> float:
        now = time.perf_counter()
        if self.current is not None:
            self.timings[self.current] = self.timings.get(self.current, 0.0) + now - self._lap
        return now
