"""The seam between the service (pipeline, worker, CLI) and the models.

The pipeline only sees the `Engines` protocol and the plain types below, so it never
imports torch: tests can plug in a small engine, and the real one (F5-TTS + WhisperX,
`load_engines`) is built once per process by the worker before the first job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np

    from f5_runtime.config import Settings


@dataclass(frozen=True)
class Audio:
    """Mono float32 samples in [-1, 1] and their rate."""

    samples: np.ndarray  # shape (n,), float32
    sample_rate: int  # Hz

    @property
    def duration(self) -> float:  # seconds
        return len(self.samples) / self.sample_rate


@dataclass(frozen=True)
class Word:
    """One word as the user wrote it; times in seconds from the start of the audio.

    `start`/`end` are None only before interpolation (see subtitles.fill_missing_times);
    the engines return every word timed, `score` is the aligner's confidence when it has one.
    """

    word: str
    start: float | None
    end: float | None
    score: float | None = None


@dataclass(frozen=True)
class SynthesisOptions:
    nfe_steps: int = 32  # flow-matching steps; 16 uses f5-tts's EPSS schedule
    cfg_strength: float = 2.0  # classifier-free guidance
    sway_sampling_coef: float = -1.0  # f5-tts's sway sampling
    speed: float = 1.0  # > 1 speaks faster
    seed: int | None = None  # same seed + same request -> same audio
    target_duration: float | None = None  # seconds of generated speech (dubbing), or None


@dataclass(frozen=True)
class Speech:
    audio: Audio
    words: list[Word]  # every word of the text, timed on `audio`
    reference_text: str  # the transcript actually used (given, clipped or transcribed)
    timings: dict[str, float] = field(default_factory=dict)  # engine stages, seconds


@dataclass(frozen=True)
class Transcript:
    text: str
    language: str
    words: list[Word]


# A stage callback: the engines call it as they enter a named stage, so the worker can report
# progress to RunPod and the CLI can draw a progress line.
StageCallback = Callable[[str], None]
# The stages the real engines' `synthesize` reports, in order (voice.py; tests pin both).
SYNTHESIS_STAGES = ("reference", "synthesize", "align")


class Engines(Protocol):
    def synthesize(
        self,
        text: str,
        reference: Audio,
        reference_text: str | None,
        language: str,
        options: SynthesisOptions,
        on_stage: StageCallback | None = None,
        reference_language: str | None = None,
    ) -> Speech:
        """Speech for `text` in the voice of `reference`, with a time for every word.

        `language` is the text's; `reference_language` the reference's, when it differs (a
        German voice speaking English). Without it: Whisper detects it when it transcribes
        the reference, and a given transcript is taken to be in `language`."""
        ...

    def align(self, audio: Audio, text: str, language: str) -> list[Word]:
        """Force-align known `text` to `audio`: every word of `text`, timed."""
        ...

    def transcribe(self, audio: Audio, language: str | None) -> Transcript:
        """Speech recognition for a recording whose text is unknown."""
        ...


def load_engines(settings: Settings) -> Engines:
    """Build the real engines (F5-TTS + WhisperX) once; heavy imports happen here only."""
    from f5_runtime.voice import load_voice_engines

    return load_voice_engines(settings)
