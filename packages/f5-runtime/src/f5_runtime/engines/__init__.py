"""The models: F5-TTS (speech), WhisperX (word alignment, speech recognition), and the text
and reference preparation they need. `Engines` below is the seam the flow talks to.

The flow (f5_runtime.flow) drives synthesis step by step through this protocol, so it sees
each stage (reference, generate, vocode, align) and never imports torch; tests plug in a
small engine here, and the real one (F5-TTS + WhisperX, `load_engines`, in voice.py) is built
once per process by the worker before the first job. Nothing in engines/ imports the API,
storage or serving layers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np

    from f5_runtime.config import Settings
    from f5_runtime.engines.reference import PreparedReference
    from f5_runtime.engines.types import (
        Audio,
        ChunkPlan,
        ChunkWork,
        SynthesisOptions,
        Transcript,
        Word,
    )


class Engines(Protocol):
    sample_rate: int  # Hz of the synthesized audio
    # Mel frames one sampler call may hold (the longest chunk's `window`, times the batch
    # size); 0: one chunk per call (on CPU a batch is slower than one chunk at a time).
    batch_frames: int

    def prepare_reference(
        self, audio: Audio, text: str | None, language: str | None
    ) -> PreparedReference:
        """The voice reference ready for synthesis (trimmed, clipped, transcribed if needed).
        `language` is the reference's own (a German voice may speak English text); None:
        Whisper detects it while transcribing."""
        ...

    def plan(
        self, text: str, reference: PreparedReference, options: SynthesisOptions
    ) -> list[ChunkPlan]:
        """`text` split into chunks, each with its length; ValidationError when it is empty."""
        ...

    def generate(self, works: Sequence[ChunkWork]) -> Any:
        """Sample the chunks' mel spectrograms in one call: chunks of any jobs that share one
        `batch_key`; DeviceOutOfMemory when they do not fit (the scheduler splits them)."""
        ...

    def vocode(self, generated: Any) -> list[np.ndarray]:
        """The waveforms (float32, `sample_rate`) of what `generate` returned, one per chunk."""
        ...

    def align(self, audio: Audio, text: str, language: str) -> list[Word]:
        """Every word of `text` timed on `audio` (None where no time was found)."""
        ...

    def transcribe(self, audio: Audio, language: str | None) -> Transcript:
        """Speech recognition for a recording whose text is unknown."""
        ...


def load_engines(settings: Settings) -> Engines:
    """Build the real engines (F5-TTS + WhisperX) once; heavy imports happen here only."""
    from f5_runtime.engines.voice import load_voice_engines

    return load_voice_engines(settings)
