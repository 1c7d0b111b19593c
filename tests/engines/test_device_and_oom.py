"""The CPU-testable parts of the CUDA paths: out-of-memory halving and the attention choice.

The sampler of a real (tiny, random) F5-TTS model is wrapped so that it raises torch's own
`OutOfMemoryError` for batches that are too big; the device is faked at torch.cuda's
functions. The same paths on a real GPU: tests/engines/test_cuda.py (requires_cuda).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from f5_runtime.engines import device
from f5_runtime.engines.device import DeviceChoice, attention_backend, choose_device
from f5_runtime.engines.dummy import build_dummy_cfm, build_dummy_vocoder
from f5_runtime.engines.f5 import TTS_SAMPLE_RATE as SAMPLE_RATE
from f5_runtime.engines.reference import PreparedReference
from f5_runtime.engines.tts import TTSEngine
from f5_runtime.engines.types import SynthesisOptions
from f5_runtime.engines.voice import VoiceEngines
from f5_runtime.errors import EngineError
from f5_runtime.flow.chunks import plan_speech, synthesize
from f5_runtime.flow.clock import StageClock
from f5_runtime.flow.scheduler import scheduler_for
from f5_runtime.serving import worker

from engines.tts_only import NoWords, synthesize_tts

CPU = DeviceChoice(device="cpu", dtype="float32", attn_backend="torch", name="cpu")
TEXT = " ".join(["Four words said here."] * 4)  # equal chunks: one batch when batched


class OutOfMemoryAbove:
    """Wraps `model.sample`: batches larger than `max_batch` raise torch.OutOfMemoryError.
    Records, for every call, its batch size and whether it ran inside an `except` block."""

    def __init__(self, model, max_batch: int):
        self.sample = model.sample
        self.max_batch = max_batch
        self.calls: list[tuple[int, bool]] = []

    def __call__(self, cond, **kwargs):
        self.calls.append((cond.shape[0], sys.exc_info()[0] is not None))
        if cond.shape[0] > self.max_batch:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return self.sample(cond=cond, **kwargs)


@pytest.fixture(scope="module")
def engine() -> TTSEngine:
    model = build_dummy_cfm("tiny")
    vocoder = build_dummy_vocoder("tiny")
    return TTSEngine(model, vocoder, CPU, "tiny", batch_frames=1_000_000)


@pytest.fixture
def reference() -> PreparedReference:
    rng = np.random.default_rng(0)
    samples = (0.1 * rng.standard_normal(10 * SAMPLE_RATE)).astype(np.float32)
    return PreparedReference(samples, "A reference voice saying words.", 10.0, False, False)


def options() -> SynthesisOptions:
    return SynthesisOptions(nfe_steps=2, seed=5)


def test_out_of_memory_halves_the_batch_outside_the_except_block(engine, reference,
                                                                 monkeypatch) -> None:
    oom = OutOfMemoryAbove(engine.model, max_batch=1)
    monkeypatch.setattr(engine.model, "sample", oom)
    result = synthesize_tts(engine, TEXT, reference, options(), batched=True)
    first_batch = oom.calls[0][0]
    assert first_batch == len(result.chunks) > 1, "the chunks were planned as one batch"
    sizes = [size for size, _ in oom.calls]
    assert sizes.count(1) == len(result.chunks), "halved down to one chunk per call"
    assert not any(inside for _, inside in oom.calls), (
        "a retry ran inside the except block, keeping the failed attempt's tensors alive")
    monkeypatch.undo()
    alone = synthesize_tts(engine, TEXT, reference, options(), batched=False)
    np.testing.assert_allclose(result.audio.samples, alone.audio.samples, atol=1e-4)


def test_one_chunk_out_of_memory_is_a_clear_error_that_keeps_the_worker(engine, reference,
                                                                       monkeypatch) -> None:
    monkeypatch.setattr(engine.model, "sample", OutOfMemoryAbove(engine.model, max_batch=0))
    with pytest.raises(EngineError, match="out of GPU memory for one chunk") as caught:
        synthesize_tts(engine, "Just one chunk.", reference, options(), batched=True)
    assert caught.value.__context__ is None and caught.value.__cause__ is None
    result = worker.error_result(caught.value, "j-oom", "generate")
    assert "refresh_worker" not in result, "a chunk too big for the GPU is not a broken GPU"
    assert "send shorter text" in result["error"]


@pytest.mark.parametrize(
    ("capability", "dtype", "installed", "backend", "reason"),
    [
        ((9, 0), "float16", True, "flash_attn", "compute capability 9.0, float16"),
        ((8, 0), "bfloat16", True, "flash_attn", "compute capability 8.0"),
        ((8, 6), "float16", False, "torch", "not installed"),
        ((7, 5), "float16", True, "torch", "7.5 is below the 8.0"),  # Turing (T4)
        ((7, 0), "float16", True, "torch", "7.0 is below the 8.0"),  # Volta (V100)
        ((8, 0), "float32", True, "torch", "no float32 kernels"),
        (None, "float32", True, "torch", "not a CUDA device"),
    ],
)
def test_flash_attn_only_where_its_kernels_run(capability, dtype, installed, backend,
                                               reason) -> None:
    asked = []

    def importable() -> bool:
        asked.append(True)
        return installed

    chosen, why = attention_backend(capability, dtype, importable)
    assert chosen == backend and reason in why
    if capability is None or capability < (8, 0) or dtype == "float32":
        assert not asked, "flash_attn is not even imported where it cannot run"


@pytest.mark.parametrize(
    ("capability", "name", "dtype", "backend"),
    [
        ((7, 5), "Tesla T4", "float16", "torch"),
        ((8, 9), "NVIDIA L4", "float16", "flash_attn"),
        ((6, 1), "GeForce GTX 1080", "float32", "torch"),
    ],
)
def test_choose_device_on_a_faked_gpu_logs_the_choice(monkeypatch, caplog, capability, name,
                                                      dtype, backend) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda _index=0: capability)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda _index=0: name)
    monkeypatch.setattr(device, "flash_attn_importable", lambda: True)
    with caplog.at_level(logging.INFO, logger="f5_runtime.engines.device"):
        choice = choose_device("auto")
    assert (choice.device, choice.dtype, choice.attn_backend) == ("cuda", dtype, backend)
    logged = [r.getMessage() for r in caplog.records if r.name == "f5_runtime.engines.device"]
    expected = "flash-attn" if backend == "flash_attn" else "PyTorch"
    assert any(m.startswith(f"attention: {expected}") for m in logged), logged


@pytest.mark.parametrize(
    ("capability", "name", "requested", "dtype", "reason"),
    [
        ((9, 0), "NVIDIA H100", "auto", "float16", "f5-tts's choice for compute capability 9.0"),
        ((7, 0), "Tesla V100", "auto", "float16", "f5-tts's choice"),
        ((6, 1), "GeForce GTX 1080", "auto", "float32", "below the 7.0"),
        ((8, 0), "AMD Radeon [ZLUDA]", "auto", "float32", "below the 7.0"),
        ((8, 9), "NVIDIA L4", "bfloat16", "bfloat16", "F5_TTS_DTYPE=bfloat16"),
        ((7, 5), "Tesla T4", "bfloat16", "float16", "bfloat16 needs 8.0"),
        ((6, 1), "GeForce GTX 1080", "bfloat16", "float32", "bfloat16 needs 8.0"),
        ((9, 0), "NVIDIA H100", "float32", "float32", "F5_TTS_DTYPE=float32"),
        (None, "cpu", "float16", "float32", "not a CUDA device"),
        (None, "cpu", "auto", "float32", "not a CUDA device"),
    ],
)
def test_the_transformer_dtype_follows_f5_tts_and_f5_tts_dtype(capability, name, requested,
                                                                dtype, reason) -> None:
    chosen, why = device.tts_dtype(capability, name, requested)
    assert chosen == dtype and reason in why


def test_bfloat16_on_a_faked_ampere_keeps_flash_attn_and_reports_every_choice(
        monkeypatch) -> None:
    from dataclasses import replace

    from f5_runtime.config import Settings

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda _index=0: (8, 0))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda _index=0: "NVIDIA A100")
    monkeypatch.setattr(device, "flash_attn_importable", lambda: True)
    choice = choose_device("auto", "bfloat16")
    settings = replace(Settings.from_env({}), compile=True)
    choices = device.engine_choices(choice, settings)
    assert choices == {
        "device": "cuda", "device_name": "NVIDIA A100", "capability": "8.0",
        "tts_dtype": "bfloat16", "tts_dtype_reason": "F5_TTS_DTYPE=bfloat16",
        "vocoder_dtype": "float32", "aligner_dtype": "float32", "asr_compute_type": "float16",
        "attention": "flash_attn", "attention_reason": "compute capability 8.0, bfloat16",
        "compile": True, "compile_graphs": ["one chunk", "a batch of chunks"], "warmup": True,
    }
    line = device.describe_choices(choices)
    for part in ("F5-TTS bfloat16", "vocoder float32", "attention flash-attn",
                 "torch.compile on (dynamic shapes, at most 2 graphs)", "warm-up on"):
        assert part in line, line


def test_chunks_of_concurrent_jobs_share_batches_and_sound_as_alone(engine) -> None:
    """Jobs with their own references, texts, lengths and seeds, run at once through the one
    scheduler of the real (tiny) engine: cross-job batches form, and every job's audio is its
    audio alone (each chunk's noise is its own seed's; padding is masked)."""
    rng = np.random.default_rng(1)
    jobs = [
        (PreparedReference((0.05 * rng.standard_normal(n)).astype(np.float32), text, 1.0,
                           False, False), speech, SynthesisOptions(nfe_steps=2, seed=seed))
        for n, text, speech, seed in [
            (24_000, "A first voice.", "Short one here. And a second, longer sentence.", 11),
            (40_000, "Another voice speaking.", "A different text to say now.", 22),
            (30_000, "A third one.", "Three. Words. Only.", 33),
        ]
    ]
    alone = [synthesize_tts(engine, text, ref, opts, batched=False) for ref, text, opts in jobs]
    engines = VoiceEngines(engine, NoWords(), references=None)  # type: ignore[arg-type]
    engines.batch_frames = engine.batch_frames  # (VoiceEngines batches on CUDA only)
    scheduler = scheduler_for(engines)
    go = threading.Event()
    with ThreadPoolExecutor(len(jobs) + 1) as pool:
        pool.submit(scheduler.call, lambda: go.wait(30))  # the device is busy: jobs queue up
        futures = [pool.submit(lambda job=job: synthesize(
            engines, plan_speech(engines, job[1], job[0], "en", job[2]), StageClock()))
            for job in jobs]
        while scheduler.counters.queue_depth < len(jobs) and not any(f.done() for f in futures):
            time.sleep(0.01)
        go.set()
        together = [f.result() for f in futures]
    assert scheduler.counters.cross_job_batches >= 1, scheduler.counters
    for one, other in zip(alone, together, strict=True):
        assert len(one.audio.samples) == len(other.audio.samples)
        np.testing.assert_allclose(other.audio.samples, one.audio.samples, atol=2e-3)
    assert not np.allclose(alone[0].audio.samples[:2000], alone[1].audio.samples[:2000])
