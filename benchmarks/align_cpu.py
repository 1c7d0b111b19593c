"""Word alignment time per second of audio, on CPU, through the runtime's own Aligner.

What it measures: `Aligner.align` (numbers spelled out, whisperx's `align`: wav2vec2
emissions + trellis + backtrack, mapping back; untimed words are left to the assembler) on
real speech shipped with f5-tts (basic_ref_en.wav, 5.3 s, and the same clip repeated to 32 s
with its text repeated), for three aligners with random weights (compute does not depend on
weight values):
- tiny: the 60k-parameter test/dummy wav2vec2;
- base: torchaudio's WAV2VEC2_ASR_BASE_960H architecture (WhisperX's English default, 94M);
- large: wav2vec2-large-xlsr-53 (WhisperX's default for most other languages, 315M).
Random weights make the CTC path degenerate, so the trellis part is timed as for real text.

    uv run --frozen python benchmarks/align_cpu.py [--repeat 3] [--threads N]

Prints a markdown table; writes benchmarks/out/align_cpu.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from f5_runtime.engines.align import Aligner  # noqa: E402
from f5_runtime.engines.align_models import ModelSource  # noqa: E402
from f5_runtime.engines.dummy import DummyModels  # noqa: E402
from f5_runtime.engines.types import Audio  # noqa: E402
from f5_runtime.io.audio import decode  # noqa: E402
from fixtures.tiny_align import REFERENCE_TEXT, f5_examples  # noqa: E402


class _RandomModel(ModelSource):
    """A real-size aligner architecture with random weights, in memory."""

    def __init__(self, kind: str):
        self.kind = kind

    def align_model(self, language, device):
        import torch
        import torchaudio

        torch.manual_seed(0)
        if self.kind == "base":
            bundle = torchaudio.pipelines.WAV2VEC2_ASR_BASE_960H
            model = torchaudio.models.wav2vec2_model(**bundle._params).eval()
            labels = bundle.get_labels()
            return model, {
                "language": language,
                "dictionary": {c.lower(): i for i, c in enumerate(labels)},
                "type": "torchaudio",
            }
        from f5_runtime.engines.dummy import CTC_VOCAB
        from transformers import Wav2Vec2Config, Wav2Vec2ForCTC

        config = Wav2Vec2Config(  # facebook/wav2vec2-large-xlsr-53 + a CTC head
            vocab_size=len(CTC_VOCAB),
            hidden_size=1024,
            num_hidden_layers=24,
            num_attention_heads=16,
            intermediate_size=4096,
            feat_extract_norm="layer",
            conv_bias=True,
            do_stable_layer_norm=True,
            pad_token_id=0,
        )
        model = Wav2Vec2ForCTC(config).eval()
        dictionary = {t.lower(): i for i, t in enumerate(CTC_VOCAB)}
        return model, {"language": language, "dictionary": dictionary, "type": "huggingface"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]  # the machine is shared: say how busy it was
    clip = decode((f5_examples() / "basic" / "basic_ref_en.wav").read_bytes())
    long_clip = Audio(np.tile(clip.samples, 6), clip.sample_rate)
    cases = [("5.3 s", clip, REFERENCE_TEXT), ("32 s", long_clip, " ".join([REFERENCE_TEXT] * 6))]
    rows = []
    aligners = {}
    for name, source in [
        ("tiny", DummyModels()),
        ("base", _RandomModel("base")),
        ("large", _RandomModel("large")),
    ]:
        aligners[name] = Aligner("cpu", source)
        aligners[name].warm(["en"])
        aligners[name].align(clip, REFERENCE_TEXT, "en")  # first call: lazy imports, allocator
    # round robin, so that every model sees the same (shared, noisy) machine over time
    times: dict[tuple[str, str], list[float]] = {}
    cpu: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.repeat):
        for name, aligner in aligners.items():
            for label, audio, text in cases:
                started, cpu_started = time.perf_counter(), time.process_time()
                words = aligner.align(audio, text, "en")
                times.setdefault((name, label), []).append(time.perf_counter() - started)
                cpu.setdefault((name, label), []).append(time.process_time() - cpu_started)
                assert len(words) == len(text.split())
    rows = []
    for (name, label), wall in times.items():
        duration = next(audio.duration for lbl, audio, _ in cases if lbl == label)
        rows.append(
            {
                "model": name,
                "audio": label,
                "audio_s": round(duration, 2),
                "align_s": round(min(wall), 3),
                "median_s": round(statistics.median(wall), 3),
                "s_per_audio_s": round(min(wall) / duration, 4),
                # CPU seconds (all threads) per audio second
                "cpu_s_per_audio_s": round(min(cpu[name, label]) / duration, 4),
            }
        )
        print(rows[-1], flush=True)
    result = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
        f"torch threads {torch.get_num_threads()}",
        "load_average_before_after": [load_before, os.getloadavg()[0]],
        "command": "uv run --frozen python benchmarks/align_cpu.py",
        "rows": rows,
    }
    out = ROOT / "benchmarks" / "out" / "align_cpu.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print("\n| aligner | audio | wall (best) | wall s / audio s | CPU s / audio s |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['model']} | {r['audio']} | {r['align_s']:.3f} s | {r['s_per_audio_s']:.3f} "
            f"| {r['cpu_s_per_audio_s']:.3f} |"
        )


if __name__ == "__main__":
    main()
