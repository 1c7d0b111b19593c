"""The CUDA paths on a real GPU (skipped, with the reason, where there is none).

Their CPU-testable parts (out-of-memory halving, the attention choice) are in
test_device_and_oom.py; these check the same code against the real device.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from f5_runtime.engines.device import attention_backend, choose_device, flash_attn_importable
from f5_runtime.engines.dummy import build_dummy_cfm, build_dummy_vocoder
from f5_runtime.engines.f5 import TTS_SAMPLE_RATE as SAMPLE_RATE
from f5_runtime.engines.reference import PreparedReference
from f5_runtime.engines.tts import TTSEngine
from f5_runtime.engines.types import SynthesisOptions

from engines.tts_only import synthesize_counted, synthesize_tts

pytestmark = pytest.mark.requires_cuda

TEXT = " ".join(["Four words said here."] * 4)


@pytest.fixture(scope="module")
def cuda_engine() -> TTSEngine:
    choice = choose_device("cuda")
    model = build_dummy_cfm("tiny", choice.attn_backend).to(choice.device, choice.torch_dtype())
    vocoder = build_dummy_vocoder("tiny").to(choice.device)
    return TTSEngine(model, vocoder, choice, "tiny", batch_frames=1_000_000)


@pytest.fixture
def reference() -> PreparedReference:
    rng = np.random.default_rng(0)
    samples = (0.1 * rng.standard_normal(10 * SAMPLE_RATE)).astype(np.float32)
    return PreparedReference(samples, "A reference voice saying words.", 10.0, False, False)


def test_the_device_choice_matches_the_card() -> None:
    choice = choose_device("auto")
    capability = torch.cuda.get_device_capability(0)
    assert choice.is_cuda and choice.capability == capability
    assert choice.dtype == ("float16" if capability[0] >= 7 else "float32")
    expected, _why = attention_backend(capability, choice.dtype, flash_attn_importable)
    assert choice.attn_backend == expected


def test_batched_synthesis_on_the_gpu_matches_one_by_one(cuda_engine, reference) -> None:
    options = SynthesisOptions(nfe_steps=4, seed=3)
    batched, batched_calls = synthesize_counted(cuda_engine, TEXT, reference, options,
                                                batched=True)
    alone, alone_calls = synthesize_counted(cuda_engine, TEXT, reference, options, batched=False)
    assert batched_calls < alone_calls == len(alone.chunks)
    assert np.isfinite(batched.audio.samples).all()
    tolerance = 5e-2 if cuda_engine.choice.dtype == "float16" else 1e-3
    np.testing.assert_allclose(batched.audio.samples, alone.audio.samples, atol=tolerance)


def test_a_real_out_of_memory_leaves_the_engine_usable(cuda_engine, reference) -> None:
    free, _total = torch.cuda.mem_get_info()
    with pytest.raises(torch.OutOfMemoryError):
        torch.empty(int(free * 4), dtype=torch.uint8, device="cuda")
    torch.cuda.empty_cache()
    result = synthesize_tts(cuda_engine, "Still speaking after that.", reference,
                            SynthesisOptions(nfe_steps=2, seed=1), batched=True)
    assert result.audio.duration > 0.5 and np.isfinite(result.audio.samples).all()


def _engine(dtype: str) -> TTSEngine:
    choice = choose_device("cuda", dtype)
    model = build_dummy_cfm("tiny", choice.attn_backend).to(choice.device, choice.torch_dtype())
    vocoder = build_dummy_vocoder("tiny").to(choice.device)
    return TTSEngine(model, vocoder, choice, "tiny", batch_frames=1_000_000)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_transformer_with_a_float32_vocoder(reference, dtype) -> None:
    if dtype == "bfloat16" and torch.cuda.get_device_capability(0) < (8, 0):
        pytest.skip("bfloat16 needs compute capability 8.0")
    engine = _engine(dtype)
    assert next(engine.model.parameters()).dtype == getattr(torch, dtype)
    assert next(engine.vocoder.parameters()).dtype == torch.float32
    options = SynthesisOptions(nfe_steps=4, seed=3)
    half = synthesize_tts(engine, "Half precision, same words.", reference, options,
                          batched=True)
    full = synthesize_tts(_engine("float32"), "Half precision, same words.", reference,
                          options, batched=True)
    assert np.isfinite(half.audio.samples).all()
    assert len(half.audio.samples) == len(full.audio.samples)


def test_compiled_blocks_on_the_gpu_keep_the_audio_and_two_variants(reference) -> None:
    from f5_runtime.engines.compile import GRAPHS, BlockStack, compile_blocks
    from f5_runtime.engines.warmup import warm_up
    from torch._dynamo.eval_frame import _debug_get_cache_entry_list

    engine = _engine("auto")
    options = SynthesisOptions(nfe_steps=4, seed=3)
    texts = ["Short.", "A longer sentence to say.", TEXT]
    eager = [synthesize_tts(engine, t, reference, options, batched=True) for t in texts]
    torch._dynamo.reset()
    assert compile_blocks(engine.model.transformer)
    warm_up(engine, batched=True)  # compiles both variants, as at a worker's start
    compiled = [synthesize_tts(engine, t, reference, options, batched=True) for t in texts]
    assert len(_debug_get_cache_entry_list(BlockStack.forward.__code__)) == len(GRAPHS)
    tolerance = 5e-2 if engine.choice.dtype != "float32" else 1e-3
    for a, b in zip(eager, compiled, strict=True):
        np.testing.assert_allclose(b.audio.samples, a.audio.samples, atol=tolerance)
