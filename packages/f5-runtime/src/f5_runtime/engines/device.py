"""Device, dtype and attention backend: chosen here, once, for every engine.

The rules follow f5-tts's own loader (`load_checkpoint`): fp16 on CUDA devices of compute
capability 7.0 or newer, fp32 everywhere else. flash-attn (FlashAttention-2) is used only
where it can run: a CUDA device of compute capability 8.0 or newer (Ampere, Ada, Hopper), a
half-precision dtype, and a flash_attn that imports (a broken install is treated as absent).
Everywhere else PyTorch's scaled_dot_product_attention. The choice and its reason are logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from f5_runtime.errors import ConfigError

log = logging.getLogger(__name__)

FP16_MIN_CAPABILITY = 7  # major CUDA compute capability f5-tts runs in fp16 (Volta and newer)
FLASH_ATTN_MIN_CAPABILITY = (8, 0)  # FlashAttention-2 kernels: Ampere and newer only
FLASH_ATTN_DTYPES = frozenset({"float16", "bfloat16"})  # it has no fp32 kernels
# Concurrent jobs per GPU: one per this many GiB of device memory (the model, ~2 GiB in fp16
# with the aligner, plus one job's activations at the default batch budget, ~3-4 GiB), at
# least 2 (one job's CPU stages overlap another's sampling), at most 16.
GIB_PER_JOB = 6
MAX_CONCURRENCY = 16


@dataclass(frozen=True)
class DeviceChoice:
    device: str  # torch device string: "cuda" or "cpu"
    dtype: str  # "float16" or "float32": what f5-tts will cast the TTS model to
    attn_backend: str  # "flash_attn" or "torch" (PyTorch scaled_dot_product_attention)
    name: str  # human-readable device name, for logs and the healthcheck
    capability: tuple[int, int] | None = None  # CUDA compute capability, None on CPU
    memory_gib: float | None = None  # the GPU's memory, None on CPU

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


def attention_backend(capability: tuple[int, int] | None, dtype: str,
                      importable: Callable[[], bool] = flash_attn_importable) -> tuple[str, str]:
    """("flash_attn" or "torch", why): flash-attn only where its kernels exist. `importable`
    is only called when the device could use it (importing flash_attn costs seconds)."""
    if capability is None:
        return "torch", "not a CUDA device"
    if tuple(capability) < FLASH_ATTN_MIN_CAPABILITY:
        return "torch", (f"compute capability {capability[0]}.{capability[1]} is below the 8.0 "
                         "flash-attn needs")
    if dtype not in FLASH_ATTN_DTYPES:
        return "torch", f"flash-attn has no {dtype} kernels"
    if not importable():
        return "torch", "flash-attn is not installed (or does not import)"
    return "flash_attn", f"compute capability {capability[0]}.{capability[1]}, {dtype}"


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
    dtype = "float16" if fp16 else "float32"
    backend, why = attention_backend(capability, dtype, flash_attn_importable)
    log.info("attention: %s (%s)", "flash-attn" if backend == "flash_attn" else
             "PyTorch scaled_dot_product_attention", why)
    return DeviceChoice(
        device="cuda",
        dtype=dtype,
        attn_backend=backend,
        name=name,
        capability=capability,
        memory_gib=_memory_gib(torch),
    )


def _memory_gib(torch) -> float | None:
    try:
        return torch.cuda.get_device_properties(0).total_memory / 2**30
    except Exception:  # not worth failing the start for: the concurrency default is 1 then
        log.warning("could not read the GPU's memory", exc_info=True)
        return None


def default_concurrency(memory_gib: float | None) -> int:
    """Jobs a worker runs at once when F5_CONCURRENCY is not set: 1 on a CPU (the device is
    the CPU the other stages would use), else one per GIB_PER_JOB GiB, 2 to MAX_CONCURRENCY."""
    if memory_gib is None:
        return 1
    return max(2, min(MAX_CONCURRENCY, int(memory_gib // GIB_PER_JOB)))
