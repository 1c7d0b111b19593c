"""The warm-up: one short synthesis at start, so that the first job pays no first-call costs.

A model's first call is slower than the next ones: CUDA loads each kernel on first use,
cuBLAS picks its algorithms, the caching allocator grows, jieba reads its dictionary for the
pinyin conversion, and with F5_COMPILE the graphs compile. The warm-up runs the same code as a
job (plan, generate, vocode) on a made-up reference and text, before the worker says it is
ready. Where the device batches (CUDA), it also samples a batch of two, the other graph.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import numpy as np

from f5_runtime.engines.f5 import TTS_SAMPLE_RATE
from f5_runtime.engines.planning import plan_chunks
from f5_runtime.engines.reference import PreparedReference
from f5_runtime.engines.types import ChunkWork, SynthesisOptions

if TYPE_CHECKING:
    from f5_runtime.engines.tts import TTSEngine

log = logging.getLogger(__name__)

WARMUP_TEXT = "One short sentence to warm up."
REFERENCE_TEXT = "A made-up voice."
REFERENCE_SECONDS = {"cuda": 4.0, "cpu": 1.0}  # shorter on a CPU, where a second costs seconds
WARMUP_OPTIONS = SynthesisOptions(nfe_steps=1, seed=0)  # every step is the same work


def warmup_reference(seconds: float) -> PreparedReference:
    """Quiet noise standing for a voice: what the sampler sees is only its shape."""
    rng = np.random.default_rng(0)
    samples = (0.05 * rng.standard_normal(int(seconds * TTS_SAMPLE_RATE))).astype(np.float32)
    return PreparedReference(samples, REFERENCE_TEXT, seconds, clipped=False, transcribed=False)


def warm_up(tts: TTSEngine, batched: bool) -> float:
    """Run the warm-up on `tts`; `batched`: also a batch of two. Seconds it took."""
    started = time.perf_counter()
    reference = warmup_reference(REFERENCE_SECONDS["cuda" if tts.choice.is_cuda else "cpu"])
    chunk = plan_chunks(WARMUP_TEXT, reference, WARMUP_OPTIONS)[0]
    work = ChunkWork(chunk, reference, WARMUP_OPTIONS, seed=0)
    for batch in ([work], [work, work]) if batched else ([work],):
        tts.vocode(tts.generate(batch))
    seconds = time.perf_counter() - started
    log.info("warm-up synthesis in %.1f s", seconds)
    return seconds
