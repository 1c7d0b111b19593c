"""Device, dtype and attention backend: chosen here, once, for every engine.

The rules follow f5-tts's own loader (`load_checkpoint`): fp16 on CUDA devices of compute
capability 7.0 or newer, fp32 everywhere else. flash-attn is used when it imports (a broken
install is treated as absent; the bootstrap removes it, but a developer's box may have one).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from f5_runtime.errors import ConfigError

log = logging.getLogger(__name__)

FP16_MIN_CAPABILITY = 7  # major CUDA compute capability f5-tts runs in fp16 (Volta and newer)


@dataclass(frozen=True)
class DeviceChoice:
    device: str  # torch device string: "cuda" or "cpu"
    dtype: str  # "float16" or "float32": what f5-tts will cast the TTS model to
    attn_backend: str  # "flash_attn" or "torch" (PyTorch scaled_dot_product_attention)
    name: str  # human-readable device name, for logs and the healthcheck
    capability: tuple[int, int] | None = None  # CUDA compute capability, None on CPU

    @property
    def is_cuda(self) -> bool:
        return self.device.startswith("cuda")

    def torch_dtype(self):
        import torch

        return getattr(torch, self.dtype)


def flash_attn_importable() -> bool:
    try:
        import flash_attn  # noqa: F401
    except Exception:  # a wheel built for another torch raises ImportError/OSError/...
        return False
    return True


def choose_device(requested: str = "auto") -> DeviceChoice:
    """ "auto" -> CUDA when available, else CPU; "cuda" without a GPU is a ConfigError."""
    import torch

    if requested not in ("auto", "cuda", "cpu"):
        raise ConfigError(f"F5_DEVICE={requested!r}: must be auto, cuda or cpu")
    use_cuda = requested == "cuda" or (requested == "auto" and torch.cuda.is_available())
    if use_cuda and not torch.cuda.is_available():
        raise ConfigError(
            "F5_DEVICE=cuda but torch sees no CUDA device "
            f"(torch {torch.__version__}, built for CUDA {torch.version.cuda}); "
            "check the GPU/driver or set F5_DEVICE=cpu"
        )
    if not use_cuda:
        return DeviceChoice(device="cpu", dtype="float32", attn_backend="torch", name="cpu")
    capability = torch.cuda.get_device_capability(0)
    name = torch.cuda.get_device_name(0)
    # f5-tts's load_checkpoint makes the same choice (and excludes ZLUDA's fake CUDA).
    fp16 = capability[0] >= FP16_MIN_CAPABILITY and not name.endswith("[ZLUDA]")
    backend = "flash_attn" if flash_attn_importable() else "torch"
    if backend == "torch":
        log.info("flash-attn is not importable: using PyTorch attention")
    return DeviceChoice(
        device="cuda",
        dtype="float16" if fp16 else "float32",
        attn_backend=backend,
        name=name,
        capability=capability,
    )
