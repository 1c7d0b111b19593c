"""The F5-TTS engine: load once, then sample chunks' mel spectrograms and vocode them.

Loading builds f5-tts's own modules (f5.py) and reads the files on the volume into them
(models/manifest.py says where); `F5_LOAD_FORMAT=dummy` builds the same modules with random
weights and no files (dummy.py). `F5_TTS_MODEL=tiny` is a tiny DiT (and Vocos) for smoke
tests; the test fixtures save exactly these architectures in the real file formats.

What to sample is decided elsewhere: planning.py gives each chunk its length, the flow
decides which chunks share a sampler call (`generate`) and in what order.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from f5_runtime.engines.f5 import HOP, TARGET_RMS, build_cfm, checkpoint_weights, load_vocos
from f5_runtime.errors import EngineError

if TYPE_CHECKING:
    from f5_runtime.config import Settings
    from f5_runtime.engines.device import DeviceChoice
    from f5_runtime.engines.reference import PreparedReference
    from f5_runtime.engines.types import ChunkPlan, SynthesisOptions

log = logging.getLogger(__name__)


def load_models(settings: Settings, choice: DeviceChoice):
    """(CFM, vocoder) on the chosen device: from the volume, or random (F5_LOAD_FORMAT=dummy).
    The CFM in the chosen dtype, the vocoder in float32 (its output is the waveform)."""
    name = settings.tts_model
    if settings.load_format == "dummy":
        from f5_runtime.engines.dummy import build_dummy_cfm, build_dummy_vocoder

        model = build_dummy_cfm(name, choice.attn_backend).to(choice.device, choice.torch_dtype())
        log.warning("F5_LOAD_FORMAT=dummy: %s with RANDOM weights; the audio is noise", name)
        return model, build_dummy_vocoder(name).to(choice.device)
    from f5_runtime.models import manifest

    checkpoint, vocab = manifest.tts_checkpoint(settings)
    model = build_cfm(name, choice.attn_backend, str(vocab))
    model.load_state_dict(checkpoint_weights(checkpoint))
    vocoder = load_vocos(manifest.vocoder_dir(settings))
    return model.to(choice.device, choice.torch_dtype()).eval(), vocoder.to(choice.device)


@dataclass(frozen=True)
class Mels:
    """What `generate` returns: the chunks' mel spectrograms, still on the device."""

    mel: Any  # torch.Tensor (batch, n_mels, frames), float32
    reference_rms: float  # the output is brought back to the reference's loudness


class TTSEngine:
    """The loaded model and vocoder; one device call at a time (a lock), any number of callers.
    `batch_frames` (F5_TTS_BATCH_FRAMES) bounds the mel frames, batch x window, sampled at
    once; out of memory halves the batch."""

    def __init__(self, model, vocoder, choice: DeviceChoice, name: str, batch_frames: int):
        self.model = model
        self.vocoder = vocoder
        self.choice = choice
        self.name = name
        self.batch_frames = batch_frames
        self._lock = threading.Lock()

    @classmethod
    def load(cls, settings: Settings, choice: DeviceChoice) -> TTSEngine:
        started = time.perf_counter()
        model, vocoder = load_models(settings, choice)
        engine = cls(model, vocoder, choice, settings.tts_model, settings.tts_batch_frames)
        log.info(
            "F5-TTS %s loaded in %.1f s on %s (%s, attention %s)",
            settings.tts_model,
            time.perf_counter() - started,
            choice.name,
            choice.dtype,
            choice.attn_backend,
        )
        return engine

    def generate(
        self,
        chunks: Sequence[ChunkPlan],
        ref: PreparedReference,
        options: SynthesisOptions,
        seed: int,
    ) -> Mels:
        """Sample the chunks (all of one length) in one call, halving it on out-of-memory.
        `seed` seeds each chunk's noise alike, so a chunk is the same batched or alone.

        A halved batch is retried after the `except` block has been left: inside it the
        exception's traceback keeps the failed attempt's tensors alive (so the retry would
        mostly run out of memory again), and an error raised there would carry the OOM as its
        `__context__`, which `worker.is_broken` reads as a broken GPU."""
        import torch

        if len({c.frames for c in chunks}) != 1:
            raise ValueError("a sampler call takes chunks of one length only")
        out_of_memory = False
        with self._lock:
            try:
                return Mels(self._sample(chunks, ref, options, seed), ref.rms)
            except torch.OutOfMemoryError:
                out_of_memory = True  # handled below, once the failed attempt is released
        assert out_of_memory
        if self.choice.is_cuda:
            torch.cuda.empty_cache()
        if len(chunks) == 1:
            raise EngineError(
                "out of GPU memory for one chunk: send shorter text (or lower "
                "F5_TTS_BATCH_FRAMES if other work shares this GPU)"
            )
        log.warning("out of memory for a batch of %d chunks: halving it", len(chunks))
        half = len(chunks) // 2
        first = self.generate(chunks[:half], ref, options, seed)
        second = self.generate(chunks[half:], ref, options, seed)
        return Mels(torch.cat([first.mel, second.mel]), ref.rms)

    def _sample(self, chunks, ref: PreparedReference, options, seed: int):
        import torch
        from f5_tts.model.utils import convert_char_to_pinyin

        device = self.choice.device
        audio = torch.from_numpy(ref.samples).to(device)[None]
        rms = max(ref.rms, 1e-6)
        if rms < TARGET_RMS:  # as upstream: quiet references raised, output lowered back
            audio = audio * (TARGET_RMS / rms)
        ref_frames = audio.shape[-1] // HOP
        frames = chunks[0].frames
        texts = convert_char_to_pinyin([ref.model_text() + c.model_text for c in chunks])
        fork = [torch.device(device)] if self.choice.is_cuda else []
        with torch.inference_mode(), torch.random.fork_rng(devices=fork):
            cond = self.model.mel_spec(audio).permute(0, 2, 1).expand(len(chunks), -1, -1)
            mel, _ = self.model.sample(
                cond=cond,
                text=texts,
                duration=ref_frames + frames,
                steps=options.nfe_steps,
                cfg_strength=options.cfg_strength,
                sway_sampling_coef=options.sway_sampling_coef,
                seed=seed,  # seeds each chunk's noise; the global RNG is restored by fork_rng
            )
            mel = mel[:, ref_frames : ref_frames + frames].float().permute(0, 2, 1)
            if self.choice.is_cuda:
                torch.cuda.synchronize()  # so that the time of sampling is not billed to vocode
        return mel

    def vocode(self, mels: Mels) -> list[np.ndarray]:
        """Each chunk's waveform, float32 at TTS_SAMPLE_RATE, at the reference's loudness."""
        import torch

        rms = max(mels.reference_rms, 1e-6)
        with self._lock, torch.inference_mode():
            wave = self.vocoder.decode(mels.mel)
            if rms < TARGET_RMS:
                wave = wave * (rms / TARGET_RMS)
            wave = wave.float().cpu().numpy()
        return [np.ascontiguousarray(row, dtype=np.float32) for row in wave]
