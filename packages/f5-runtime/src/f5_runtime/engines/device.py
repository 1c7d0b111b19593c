"""Device, dtype and attention backend: chosen here, once, for every engine.

The F5-TTS transformer's dtype follows f5-tts's own loader (`load_checkpoint`): fp16 on CUDA
devices of compute capability 7.0 or newer, fp32 everywhere else; F5_TTS_DTYPE may ask for
bfloat16 (8.0 or newer: same range as fp32, so no overflow, but fewer mantissa bits) or
float32. The vocoder and the aligners stay in float32 (Vocos's output is the waveform itself;
wav2vec2's emissions feed a trellis), Whisper in faster-whisper's advised compute type.
flash-attn (FlashAttention-2) is used only where it can run: a CUDA device of compute
capability 8.0 or newer (Ampere, Ada, Hopper), a half-precision dtype, and a flash_attn that
imports (a broken install is treated as absent). Everywhere else PyTorch's
scaled_dot_product_attention. Every choice and its reason: `engine_choices` (logged once at
start, and in `f5-runtime healthcheck --json`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from f5_runtime.errors import ConfigError

if TYPE_CHECKING:
    from f5_runtime.config import Settings

log = logging.getLogger(__name__)

FP16_MIN_CAPABILITY = 7  # major CUDA compute capability f5-tts runs in fp16 (Volta and newer)
FLASH_ATTN_MIN_CAPABILITY = (8, 0)  # FlashAttention-2 kernels: Ampere and newer only
FLASH_ATTN_DTYPES = frozenset({"float16", "bfloat16"})  # it has no fp32 kernels
BF16_MIN_CAPABILITY = (8, 0)  # bfloat16 tensor cores: Ampere and newer
# Concurrent jobs per GPU: one per this many GiB of device memory (the model, ~2 GiB in fp16
# with the aligner, plus one job's activations at the default batch budget, ~3-4 GiB), at
# least 2 (one job's CPU stages overlap another's sampling), at most 16.
GIB_PER_JOB = 6
MAX_CONCURRENCY = 16


@dataclass(frozen=True)
class DeviceChoice:
    device: str  # torch device string: "cuda" or "cpu"
    dtype: str  # the F5-TTS transformer's: "float16", "bfloat16" or "float32"
    attn_backend: str  # "flash_attn" or "torch" (PyTorch scaled_dot_product_attention)
    name: str  # human-readable device name, for logs and the healthcheck
    capability: tuple[int, int] | None = None  # CUDA compute capability, None on CPU
    dtype_reason: str = ""  # why this dtype (the start-up log, the healthcheck)
    attn_reason: str = ""  # why this attention backend
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


def engine_choices(choice: DeviceChoice, settings: Settings) -> dict[str, Any]:
    """Every choice made for the engines, with its reason where there is one: logged once at
    start (`describe_choices`) and reported by `f5-runtime healthcheck --json`."""
    from f5_runtime.engines.align_models import ASR_COMPUTE_TYPE
    from f5_runtime.engines.compile import GRAPHS

    capability = choice.capability
    return {
        "device": choice.device,
        "device_name": choice.name,
        "capability": f"{capability[0]}.{capability[1]}" if capability else None,
        "tts_dtype": choice.dtype,
        "tts_dtype_reason": choice.dtype_reason,
        "vocoder_dtype": "float32",
        "aligner_dtype": "float32",
        "asr_compute_type": ASR_COMPUTE_TYPE.get(choice.device, "float32"),
        "attention": choice.attn_backend,
        "attention_reason": choice.attn_reason,
        "compile": settings.compile,
        "compile_graphs": list(GRAPHS) if settings.compile else [],
        "warmup": settings.warmup,
    }


def describe_choices(choices: dict[str, Any]) -> str:
    """The choices as one log line."""
    attention = ("flash-attn" if choices["attention"] == "flash_attn" else
                 "PyTorch scaled_dot_product_attention")
    compiled = (f"on (dynamic shapes, at most {len(choices['compile_graphs'])} graphs)"
                if choices["compile"] else "off")
    return (f"device {choices['device_name']}; F5-TTS {choices['tts_dtype']} "
            f"({choices['tts_dtype_reason']}), vocoder {choices['vocoder_dtype']}, aligner "
            f"{choices['aligner_dtype']}, Whisper {choices['asr_compute_type']}; attention "
            f"{attention} ({choices['attention_reason']}); torch.compile {compiled}; warm-up "
            f"{'on' if choices['warmup'] else 'off'}")


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


def tts_dtype(capability: tuple[int, int] | None, name: str, requested: str = "auto"
              ) -> tuple[str, str]:
    """(dtype of the F5-TTS transformer, why) for a device and F5_TTS_DTYPE. A half precision
    the device cannot run well falls back, with a warning, rather than failing the start (an
    endpoint may list several GPU types)."""
    if capability is None:
        if requested in ("float16", "bfloat16"):
            log.warning("F5_TTS_DTYPE=%s ignored on a CPU: float32", requested)
        return "float32", "not a CUDA device"
    # f5-tts's load_checkpoint makes the same choice (and excludes ZLUDA's fake CUDA).
    half = capability[0] >= FP16_MIN_CAPABILITY and not name.endswith("[ZLUDA]")
    cc = f"compute capability {capability[0]}.{capability[1]}"
    if requested == "auto":
        return ("float16", f"f5-tts's choice for {cc}") if half else (
            "float32", f"{cc} is below the 7.0 f5-tts runs in float16")
    if requested == "bfloat16" and tuple(capability) < BF16_MIN_CAPABILITY:
        fallback = "float16" if half else "float32"
        log.warning("F5_TTS_DTYPE=bfloat16 needs compute capability 8.0, this GPU has %d.%d: "
                    "%s", capability[0], capability[1], fallback)
        return fallback, f"F5_TTS_DTYPE=bfloat16 needs 8.0, {cc}"
    return requested, f"F5_TTS_DTYPE={requested}"


def choose_device(requested: str = "auto", dtype: str = "auto") -> DeviceChoice:
    """ "auto" -> CUDA when available, else CPU; "cuda" without a GPU is a ConfigError.
    `dtype` is F5_TTS_DTYPE (tts_dtype)."""
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
        chosen, dtype_why = tts_dtype(None, "cpu", dtype)
        return DeviceChoice(device="cpu", dtype=chosen, attn_backend="torch", name="cpu",
                            dtype_reason=dtype_why, attn_reason="not a CUDA device")
    capability = torch.cuda.get_device_capability(0)
    name = torch.cuda.get_device_name(0)
    dtype, dtype_why = tts_dtype(capability, name, dtype)
    backend, why = attention_backend(capability, dtype, flash_attn_importable)
    log.info("attention: %s (%s)", "flash-attn" if backend == "flash_attn" else
             "PyTorch scaled_dot_product_attention", why)
    return DeviceChoice(
        device="cuda",
        dtype=dtype,
        attn_backend=backend,
        name=name,
        capability=capability,
        dtype_reason=dtype_why,
        attn_reason=why,
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
