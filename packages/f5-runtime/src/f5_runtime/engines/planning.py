"""Chunk planning for F5-TTS: the text in chunks, each with the length of its speech.

F5-TTS generates reference + text in one window of about 22 s, so long text is cut into
chunks (chunking.py). Each chunk's length in mel frames follows the reference's speaking
rate (frames per byte of its transcript); chunks of similar length are given the same one,
so that they can be sampled as one batch without padding (a batched chunk is computed exactly
as it would be alone). For dubbing, the lengths are scaled so that the joined speech, cross-
fades included, lasts the target duration.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from f5_runtime.engines.chunking import (
    chunk_budget,
    chunk_text,
    chunk_text_short_first,
    nbytes,
    normalize,
    with_final_punctuation,
)
from f5_runtime.engines.f5 import FRAMES_PER_SECOND, HOP
from f5_runtime.engines.normalize import speakable
from f5_runtime.engines.types import ChunkPlan, SynthesisOptions
from f5_runtime.errors import ValidationError

if TYPE_CHECKING:
    from f5_runtime.engines.reference import PreparedReference

CROSS_FADE_SECONDS = 0.1  # overlap of consecutive chunks (the assembler cross-fades them)
TAIL_MARGIN_SECONDS = 0.15  # extra time per chunk so its last word is not cut off
MIN_TEXT_BYTES = 10  # shorter texts get the time of this many bytes (upstream: speed 0.3)
SAME_DURATION_TOLERANCE = 0.2  # chunks within 20 % of the longest share one (their mean) length


def plan_chunks(text: str, ref: PreparedReference, options: SynthesisOptions) -> list[ChunkPlan]:
    """Chunks and their durations (frames), the same whether sampled batched or one by one."""
    text = normalize(text)
    if not text:
        raise ValidationError("text is empty: send the words to speak")
    ref_text = ref.model_text()
    ref_frames = len(ref.samples) // HOP
    frames_per_byte = ref_frames / nbytes(ref_text)
    tail = TAIL_MARGIN_SECONDS * FRAMES_PER_SECOND

    def natural(model_text: str, speed: float) -> float:
        return max(nbytes(model_text), MIN_TEXT_BYTES) * frames_per_byte / speed + tail

    speed = options.speed
    target = options.target_duration
    if target is not None:
        if target <= 0:
            raise ValidationError("target_duration must be positive (seconds)")
        # The speaking rate that fits the text into the target; it also sizes the chunks.
        spoken = model_texts_of([text], options)[0]
        speed = min(
            max(natural(spoken, 1.0) / FRAMES_PER_SECOND / target, 0.25), 4.0
        )
    budget = chunk_budget(ref_text, ref.seconds, speed)
    chunks = (chunk_text(text, budget) if options.first_chunk_scale >= 1.0 else
              chunk_text_short_first(text, budget, int(budget * options.first_chunk_scale)))
    model_texts = model_texts_of(chunks, options)
    frames = [natural(t, speed) for t in model_texts]
    if target is not None:
        fade = CROSS_FADE_SECONDS * (len(chunks) - 1)
        scale = (target + fade) * FRAMES_PER_SECOND / sum(frames)
        frames = [f * scale for f in frames]
    frames = _same_durations(frames)
    plans = []
    for chunk, model_text, f in zip(chunks, model_texts, frames, strict=True):
        length = max(1, round(f))
        plans.append(ChunkPlan(chunk, model_text, length, ref_frames + length))
    return plans


def model_texts_of(chunks: list[str], options: SynthesisOptions) -> list[str]:
    """What the model reads for each chunk: its spoken form when the options normalise (the
    lengths follow it: "$5" takes the time of "five dollars"), the last one closed by a
    sentence end."""
    if options.normalize is not None:
        chunks = [speakable(chunk, options.normalize) for chunk in chunks]
    return [*chunks[:-1], with_final_punctuation(chunks[-1])]


def _same_durations(frames: list[float]) -> list[float]:
    """Chunks whose lengths differ by less than the tolerance get their mean length, so they
    can share a batch without padding (total length is kept)."""
    order = sorted(range(len(frames)), key=lambda i: -frames[i])
    out = list(frames)
    group: list[int] = []
    for i in [*order, None]:
        if (
            i is not None
            and group
            and (frames[group[0]] - frames[i]) <= SAME_DURATION_TOLERANCE * frames[group[0]]
        ):
            group.append(i)
            continue
        if group:
            mean = sum(frames[j] for j in group) / len(group)
            for j in group:
                out[j] = mean
        group = [i] if i is not None else []
    return out
