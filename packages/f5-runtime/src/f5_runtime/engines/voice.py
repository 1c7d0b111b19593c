"""The real `Engines`: F5-TTS (tts.py) and WhisperX (align.py), with the reference preparer
and its cache on the volume (reference.py), on the device chosen once (device.py).

Each step of the protocol is one call on one model; the flow (f5_runtime.flow) drives them
chunk by chunk. Torch reports CUDA faults as RuntimeError: they become WorkerBrokenError (the
worker is replaced), any other failure an EngineError naming the step.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import time
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
        self.start_steps: dict[str, float] = {}  # seconds of each step of load_voice_engines
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


# What the engines import before loading (timed as the start's "imports" step), beside
# f5-tts's model and whisperx's alignment. Whisper (faster_whisper) is not among them: it
# loads on the first transcription only.
ENGINE_IMPORTS = ("torch", "vocos")


def load_voice_engines(settings: Settings) -> VoiceEngines:
    """Import, choose the device, load the models, warm up; each step timed and logged (the
    worker's start to "ready", docs/benchmarks.md)."""
    from f5_runtime.engines.align import load_aligner
    from f5_runtime.engines.align_models import import_alignment
    from f5_runtime.engines.device import choose_device, describe_choices, engine_choices
    from f5_runtime.engines.f5 import import_f5_model
    from f5_runtime.engines.tts import TTSEngine

    steps: dict[str, float] = {}
    started = last = time.perf_counter()

    def step(name: str) -> None:
        nonlocal last
        now = time.perf_counter()
        steps[name] = now - last
        last = now

    for module in ENGINE_IMPORTS:
        importlib.import_module(module)
    import_f5_model()
    import_alignment()
    step("imports")
    choice = choose_device(settings.device, settings.tts_dtype)
    log.info("engine choices: %s", describe_choices(engine_choices(choice, settings)))
    tts = TTSEngine.load(settings, choice)
    step("tts_load")
    if settings.compile:
        from f5_runtime.engines.compile import compile_blocks

        compile_blocks(tts.model.transformer)
    aligner = load_aligner(settings, choice.device)
    aligner.warm(settings.languages)
    step("aligner_load")
    cache = ReferenceCache(settings.refs_dir, settings.refs_cache_mb * MB)
    salt = f"tts={settings.tts_model}|load={settings.load_format}|asr={settings.asr_model}"
    engines = VoiceEngines(tts, aligner, ReferencePreparer(cache, aligner, salt))
    if settings.warmup:
        from f5_runtime.engines.warmup import warm_up

        with engine_errors("the warm-up synthesis"):
            warm_up(tts, batched=engines.batch_frames > 0)
        step("warmup")
    engines.start_steps = steps
    log.info("engines ready in %.1f s (%s)", time.perf_counter() - started,
             ", ".join(f"{name} {seconds:.1f} s" for name, seconds in steps.items()))
    return engines
