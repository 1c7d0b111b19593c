"""The F5-TTS engine: load once, then sample chunks' mel spectrograms and vocode them.

Loading builds f5-tts's own modules (f5.py) and reads the files on the volume into them
(models/manifest.py says where); `F5_LOAD_FORMAT=dummy` builds the same modules with random
weights and no files (dummy.py). `F5_TTS_MODEL=tiny` is a tiny DiT (and Vocos) for smoke
tests; the test fixtures save exactly these architectures in the real file formats.

What to sample is decided elsewhere: planning.py gives each chunk its length, the engine
scheduler (flow/scheduler.py) decides which chunks, of any jobs, share a sampler call.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from f5_runtime.engines.f5 import HOP, TARGET_RMS, build_cfm, checkpoint_weights, load_vocos
from f5_runtime.errors import DeviceOutOfMemory

if TYPE_CHECKING:
    from f5_runtime.config import Settings
    from f5_runtime.engines.device import DeviceChoice
    from f5_runtime.engines.types import ChunkWork

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
    """What `generate` returns: each chunk's mel spectrogram, still on the device."""

    mels: list[Any]  # torch.Tensor (n_mels, frames) per chunk, float32
    reference_rms: list[float]  # each output is brought back to its reference's loudness


class TTSEngine:
    """The loaded model and vocoder; one device call at a time (a lock), any number of callers
    (in the service, one: the engine scheduler). `batch_frames` (F5_TTS_BATCH_FRAMES) bounds
    the mel frames, batch x longest window, sampled at once."""

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

    def generate(self, works: Sequence[ChunkWork]) -> Mels:
        """Sample the chunks in one call: any references, lengths and seeds, one `batch_key`.
        Out of memory raises DeviceOutOfMemory (the scheduler splits the batch).

        It is raised after the `except` block has been left: inside it the exception's
        traceback keeps the failed attempt's tensors alive (so a retry would mostly run out of
        memory again), and an error raised there would carry the OOM as its `__context__`,
        which `worker.is_broken` reads as a broken GPU."""
        import torch

        if len({w.batch_key for w in works}) != 1:
            raise ValueError("a sampler call takes chunks of one steps/guidance/sway only")
        out_of_memory = False
        with self._lock:
            try:
                return Mels(self._sample(works), [w.reference.rms for w in works])
            except torch.OutOfMemoryError:
                out_of_memory = True  # handled below, once the failed attempt is released
        assert out_of_memory
        if self.choice.is_cuda:
            torch.cuda.empty_cache()
        raise DeviceOutOfMemory(f"out of GPU memory sampling {len(works)} chunk(s)")

    def _sample(self, works: Sequence[ChunkWork]) -> list[Any]:
        import torch
        from f5_tts.model.utils import convert_char_to_pinyin
        from torch.nn.utils.rnn import pad_sequence

        device = self.choice.device
        conds, ref_frames = [], []
        with torch.inference_mode():
            for work in works:
                audio = torch.from_numpy(work.reference.samples).to(device)[None]
                rms = max(work.reference.rms, 1e-6)
                if rms < TARGET_RMS:  # as upstream: quiet references raised, output lowered
                    audio = audio * (TARGET_RMS / rms)
                conds.append(self.model.mel_spec(audio)[0].permute(1, 0))
                ref_frames.append(audio.shape[-1] // HOP)
            lens = torch.tensor([c.shape[0] for c in conds], device=device)
            texts = convert_char_to_pinyin([w.reference.model_text() + w.chunk.model_text
                                            for w in works])
            # as CFM.sample: at least the text's and the reference's length plus one frame
            duration = torch.tensor([max(r + w.chunk.frames, len(t) + 1, r + 1) for r, w, t
                                     in zip(ref_frames, works, texts, strict=True)],
                                    device=device)
            options = works[0].options
            noise = [chunk_noise(w.seed, int(d), self.model.num_channels, device,
                                 self.model_dtype()) for w, d in zip(works, duration,
                                                                     strict=True)]
            with own_noise(noise):
                mel, _ = self.model.sample(
                    cond=pad_sequence(conds, batch_first=True),
                    text=texts,
                    duration=duration if len(works) > 1 else int(duration[0]),
                    lens=lens,
                    steps=options.nfe_steps,
                    cfg_strength=options.cfg_strength,
                    sway_sampling_coef=options.sway_sampling_coef,
                    seed=None,  # each chunk's noise is its own (chunk_noise)
                )
            out = [mel[i, r : r + w.chunk.frames].float().permute(1, 0)
                   for i, (r, w) in enumerate(zip(ref_frames, works, strict=True))]
            if self.choice.is_cuda:
                torch.cuda.synchronize()  # so that the time of sampling is not billed to vocode
        return out

    def model_dtype(self):
        return next(self.model.parameters()).dtype

    def vocode(self, mels: Mels) -> list[np.ndarray]:
        """Each chunk's waveform, float32 at TTS_SAMPLE_RATE, at its reference's loudness.
        Chunks of one length are decoded together (padding would change the last samples)."""
        import torch

        waves: list[np.ndarray | None] = [None] * len(mels.mels)
        groups: dict[int, list[int]] = {}
        for i, mel in enumerate(mels.mels):
            groups.setdefault(mel.shape[-1], []).append(i)
        with self._lock, torch.inference_mode():
            for indices in groups.values():
                decoded = self.vocoder.decode(torch.stack([mels.mels[i] for i in indices]))
                decoded = decoded.float().cpu().numpy()
                for row, i in zip(decoded, indices, strict=True):
                    rms = max(mels.reference_rms[i], 1e-6)
                    if rms < TARGET_RMS:
                        row = row * (rms / TARGET_RMS)
                    waves[i] = np.ascontiguousarray(row, dtype=np.float32)
        return waves  # type: ignore[return-value]


def chunk_noise(seed: int, frames: int, channels: int, device: str, dtype) -> Any:
    """The starting noise of one chunk: what f5-tts draws for it after `torch.manual_seed(seed)`
    (the same on its own or in any batch)."""
    import torch

    generator = torch.Generator(device=device).manual_seed(seed)
    return torch.randn(frames, channels, generator=generator, device=device, dtype=dtype)


class _NoiseTorch:
    """`torch` as f5-tts's CFM module sees it inside `own_noise`: `randn` hands out the given
    noises in order, everything else is torch."""

    def __init__(self, torch_module, noise: list[Any]):
        self._torch = torch_module
        self._noise = list(noise)

    def randn(self, *args, **kwargs):
        return self._noise.pop(0)

    def __getattr__(self, name: str):
        return getattr(self._torch, name)


@contextlib.contextmanager
def own_noise(noise: list[Any]):
    """CFM.sample seeds every sample of a batch with one seed (`torch.manual_seed(seed)` before
    each draw): here each chunk's noise comes from its own seed instead. Only CFM.sample's
    module sees the swap, and only the device-owning thread samples (no other caller)."""
    from f5_tts.model import cfm

    real = cfm.torch
    cfm.torch = _NoiseTorch(real, noise)
    try:
        yield
    finally:
        cfm.torch = real
