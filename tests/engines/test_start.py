"""The worker's start: what it imports, how it loads the models, the warm-up, torch.compile.

The import guard runs the real start (`build_handler` with the tiny random engines) in a fresh
interpreter and reads its `sys.modules`, so that an upstream change that pulls the heavy
modules back in fails here rather than slowing every worker's start unnoticed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from f5_runtime.engines.compile import GRAPHS, BlockStack, compile_blocks
from f5_runtime.engines.device import DeviceChoice
from f5_runtime.engines.dummy import build_dummy_cfm, build_dummy_vocoder
from f5_runtime.engines.f5 import TTS_SAMPLE_RATE as SAMPLE_RATE
from f5_runtime.engines.reference import PreparedReference
from f5_runtime.engines.tts import TTSEngine, load_models
from f5_runtime.engines.types import SynthesisOptions
from f5_runtime.engines.warmup import warm_up

from engines.tts_only import synthesize_counted

CPU = DeviceChoice(device="cpu", dtype="float32", attn_backend="torch", name="cpu")
# Modules serving has no use for, each with what used to import it (docs/benchmarks.md).
NOT_IMPORTED = {
    "f5_tts.infer.utils_infer": "f5-tts's inference module (CLI, reference preprocessing)",
    "transformers.pipelines": "f5-tts's inference module (its Whisper pipeline)",
    "matplotlib": "f5-tts's inference module (plots)",
    "wandb": "f5-tts's trainer (f5_tts.model's __init__)",
    "datasets": "f5-tts's trainer",
    "sklearn": "transformers' assisted generation, nltk's classifier wrapper",
    "torchvision": "transformers' image processors",
    "faster_whisper": "ASR, loaded on the first transcription only",
}

START = """
import json, sys
from f5_runtime.config import Settings
from f5_runtime.serving import worker
handler = worker.build_handler(Settings.from_env())
loaded = sorted(m for m in %r if m in sys.modules)
from f5_tts.model import Trainer  # still importable: the trainer loads when asked for
import sklearn  # hidden only while whisperx's alignment imported
print(json.dumps({"loaded": loaded, "steps": sorted(handler.engines.start_steps)}))
"""


def test_the_worker_start_imports_only_what_serving_needs(tmp_path) -> None:
    env = {**os.environ, "F5_LOAD_FORMAT": "dummy", "F5_TTS_MODEL": "tiny", "F5_DEVICE": "cpu",
           "F5_VOLUME": str(tmp_path)}
    env.pop("F5_ENGINES", None)
    proc = subprocess.run([sys.executable, "-c", START % (tuple(NOT_IMPORTED),)], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["loaded"] == [], {m: NOT_IMPORTED[m] for m in report["loaded"]}
    assert report["steps"] == sorted(["imports", "tts_load", "aligner_load", "warmup"])


def test_the_checkpoint_loads_as_f5_tts_loads_it(tiny_tts_settings) -> None:
    """Our loader (f5.py) against f5-tts's load_model/load_vocoder on the same files."""
    from f5_runtime.engines.f5 import architecture, import_f5_infer
    from f5_runtime.models import manifest

    ours, our_vocoder = load_models(tiny_tts_settings, CPU)
    upstream = import_f5_infer()
    checkpoint, vocab = manifest.tts_checkpoint(tiny_tts_settings)
    backbone, arch = architecture("tiny")
    theirs = upstream.load_model(backbone, arch, str(checkpoint), vocab_file=str(vocab),
                                 device="cpu")
    their_vocoder = upstream.load_vocoder(
        "vocos", is_local=True, local_path=str(manifest.vocoder_dir(tiny_tts_settings)),
        device="cpu")
    for mine, upstream_model in ((ours, theirs), (our_vocoder, their_vocoder)):
        expected = upstream_model.state_dict()
        got = mine.state_dict()
        assert got.keys() == expected.keys()
        assert all(torch.equal(got[k], expected[k]) for k in expected)
    assert ours.vocab_char_map == theirs.vocab_char_map
    assert not ours.training and not our_vocoder.training


@pytest.fixture
def engine() -> TTSEngine:
    return TTSEngine(build_dummy_cfm("tiny"), build_dummy_vocoder("tiny"), CPU, "tiny",
                     batch_frames=1_000_000)


@pytest.fixture
def reference() -> PreparedReference:
    rng = np.random.default_rng(0)
    samples = (0.1 * rng.standard_normal(10 * SAMPLE_RATE)).astype(np.float32)
    return PreparedReference(samples, "A reference voice saying words.", 10.0, False, False)


class SampleCalls:
    """Wraps `model.sample` and records the batch size of every call."""

    def __init__(self, model):
        self.sample = model.sample
        self.batches: list[int] = []

    def __call__(self, cond, **kwargs):
        self.batches.append(cond.shape[0])
        return self.sample(cond=cond, **kwargs)


@pytest.mark.parametrize(("batched", "batches"), [(False, [1]), (True, [1, 2])])
def test_the_warm_up_samples_and_vocodes_each_way_the_device_is_called(
        engine, monkeypatch, batched, batches) -> None:
    calls = SampleCalls(engine.model)
    monkeypatch.setattr(engine.model, "sample", calls)
    decoded = []
    vocode = engine.vocode
    monkeypatch.setattr(engine, "vocode", lambda mels: decoded.append(vocode(mels)))
    warm_up(engine, batched=batched)
    assert calls.batches == batches
    assert [len(waves) for waves in decoded] == batches
    assert all(np.isfinite(w).all() and len(w) > 0 for waves in decoded for w in waves)


def test_load_engines_warms_up_unless_told_not_to(voice_engines, engines_settings,
                                                  monkeypatch) -> None:
    from dataclasses import replace

    from f5_runtime.engines import load_engines

    assert list(voice_engines.start_steps) == ["imports", "tts_load", "aligner_load", "warmup"]
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cold = load_engines(replace(engines_settings, warmup=False))
    assert "warmup" not in cold.start_steps


def test_compiled_blocks_sound_the_same_and_compile_once_per_graph(engine, reference) -> None:
    """torch.compile with inductor, as F5_COMPILE=1 runs it: the same audio, and new lengths
    never compile again. Dynamo keeps one cache entry per compiled variant of the blocks'
    forward (its own record of recompiles; inductor may call its backend twice for one variant
    when it restarts the analysis with new guards)."""
    from torch._dynamo.eval_frame import _debug_get_cache_entry_list

    texts = ["Short.", "A longer sentence to say.", " ".join(["Four words said here."] * 4)]
    options = SynthesisOptions(nfe_steps=4, seed=7)
    eager = [synthesize_counted(engine, t, reference, options, batched=True)[0] for t in texts]
    torch._dynamo.reset()
    assert compile_blocks(engine.model.transformer)
    runs = [synthesize_counted(engine, t, reference, options, batched=True) for t in texts]
    compiled = [speech for speech, _calls in runs]
    lengths = {len(c.samples) for speech in compiled for c in speech.chunks}
    assert len(lengths) >= 3, "several lengths went through the compiled blocks"
    assert any(calls < len(speech.chunks) for speech, calls in runs), "and a batch"
    variants = _debug_get_cache_entry_list(BlockStack.forward.__code__)
    assert len(variants) == len(GRAPHS), "one chunk, one batch: whatever the lengths"
    for a, b in zip(eager, compiled, strict=True):
        np.testing.assert_allclose(b.audio.samples, a.audio.samples, atol=1e-4)
