"""The real `Engines`: F5-TTS (tts.py) and WhisperX (align.py), with the reference preparer
and its cache on the volume (reference.py), on the device chosen once (device.py).

Each step of the protocol is one call on one model; the flow (f5_runtime.flow) drives them
chunk by chunk. Torch reports CUDA faults as RuntimeError: they become WorkerBrokenError (the
worker is replaced), any other failure an EngineError naming the step.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from f5_runtime.engines.device import default_concurrency
from f5_runtime.engines.f5 import TTS_SAMPLE_RATE
from f5_runtime.engines.planning import plan_chunks
from f5_runtime.engines.reference import PreparedReference, ReferenceCache, ReferencePreparer
from f5_runtime.errors import EngineError, RuntimeFailure, WorkerBrokenError

if TYPE_CHECKING:
    import numpy as np

    from f5_runtime.config import Settings
    from f5_runtime.engines.align import Aligner
    from f5_runtime.engines.tts import Mels, TTSEngine
    from f5_runtime.engines.types import (
        Audio,
        ChunkPlan,
        ChunkWork,
        SynthesisOptions,
        Transcript,
        Word,
    )

log = logging.getLogger(__name__)

MB = 1024 * 1024
GPU_FAULTS = ("CUDA", "cuDNN", "CUBLAS")  # in a RuntimeError's text: the device is not usable


@contextlib.contextmanager
def engine_errors(step: str) -> Iterator[None]:
    try:
        yield
    except RuntimeFailure:
        raise
    except RuntimeError as exc:
        if any(fault in str(exc) for fault in GPU_FAULTS):
            raise WorkerBrokenError(f"the GPU failed during {step}: {exc}") from exc
        raise EngineError(f"{step} failed: {exc}") from exc


class VoiceEngines:
    """Implements the `Engines` protocol with a loaded TTS engine and aligner."""

    sample_rate = TTS_SAMPLE_RATE

    def __init__(self, tts: TTSEngine, aligner: Aligner, references: ReferencePreparer):
        self.tts = tts
        self.aligner = aligner
        self.references = references
        # On CPU a batch is compute-bound and measured slower than one chunk at a time
        # (bigger tensors, same FLOPs; docs/benchmarks.md): chunks run one after another.
        self.batch_frames = tts.batch_frames if tts.choice.is_cuda else 0
        self.default_concurrency = default_concurrency(tts.choice.memory_gib)

    def prepare_reference(self, audio: Audio, text: str | None, language: str | None
                          ) -> PreparedReference:
        with engine_errors("reference preparation"):
            ref, cached = self.references(audio, text, language)
        log.info(
            "reference %.1f s (%s%s): %r",
            ref.seconds,
            "cached" if cached else "prepared",
            ", clipped" if ref.clipped else "",
            ref.text[:80],
        )
        return ref

    def plan(self, text: str, reference: PreparedReference, options: SynthesisOptions
             ) -> list[ChunkPlan]:
        return plan_chunks(text, reference, options)

    def generate(self, works: Sequence[ChunkWork]) -> Mels:
        with engine_errors("generate"):
            return self.tts.generate(works)

    def vocode(self, generated: Any) -> list[np.ndarray]:
        with engine_errors("vocode"):
            return self.tts.vocode(generated)

    def align(self, audio: Audio, text: str, language: str) -> list[Word]:
        with engine_errors("align"):
            return self.aligner.align(audio, text, language)

    def transcribe(self, audio: Audio, language: str | None) -> Transcript:
        with engine_errors("transcribe"):
            return self.aligner.transcribe(audio, language)


def load_voice_engines(settings: Settings) -> VoiceEngines:
    from f5_runtime.engines.align import load_aligner
    from f5_runtime.engines.device import choose_device
    from f5_runtime.engines.tts import TTSEngine

    choice = choose_device(settings.device)
    tts = TTSEngine.load(settings, choice)
    aligner = load_aligner(settings, choice.device)
    aligner.warm(settings.languages)
    cache = ReferenceCache(settings.refs_dir, settings.refs_cache_mb * MB)
    salt = f"tts={settings.tts_model}|load={settings.load_format}|asr={settings.asr_model}"
    return VoiceEngines(tts, aligner, ReferencePreparer(cache, aligner, salt))
