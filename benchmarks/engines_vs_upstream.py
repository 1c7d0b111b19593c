"""Engines benchmark: our F5-TTS path vs upstream's own `infer_process`, in one run, on CPU.

    uv run --frozen python benchmarks/engines_vs_upstream.py [--arch F5TTS_v1_Base]
        [--nfe 8] [--paragraph-nfe 8] [--cases sentence,paragraph] [--repeat 2] [--batched]
        [--json OUT]

What it does:
1. Writes the TTS + vocoder in the real on-disk formats (HF cache layout, safetensors with the
   `ema_model.` prefix, Vocos config.yaml + pytorch_model.bin) with random weights, for the
   tiny and the real F5TTS_v1_Base sizes, and times `TTSEngine.load` (f5-tts's load_model +
   load_vocoder) from them.
2. With the real-size model loaded from those files (random weights: the compute is the real
   one), synthesizes the same text from the same reference (f5-tts's basic_ref_en.wav and its
   transcript) at the same NFE, speed 1, with:
   - upstream: `preprocess_ref_audio_text` + `infer_process` (chunks run in its thread pool);
   - ours: `ReferencePreparer` (volume cache) + `TTSEngine.synthesize` (chunks one after
     another, the CPU default; `--batched`: chunks of one length sampled as one batch).
   Both reference caches are warmed first (upstream's is in-process, ours on disk): the
   timed call is a voice used again. Word alignment (ours only) is not included.
Cases: one sentence (one chunk), and the shortest paragraph that upstream's chunker cuts
into four chunks. Each case runs `--repeat` times, upstream and ours interleaved, after one
untimed warm-up of each; the ratio is upstream's best wall time / ours. The CPU-time ratio
(process CPU seconds, all threads) is given beside it: on a shared machine a thread pool (as
upstream's) also wins wall time by taking CPU from other processes.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import sys
import tempfile
import time
from importlib.resources import files
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # tests.fixtures.tiny_tts writes the real-format trees

from f5_runtime.serving.bench import REFERENCE_TEXT as REF_TEXT  # noqa: E402

SENTENCE = (
    "I don't really care what you call me. I've been a silent spectator, watching species "
    "evolve, empires rise and fall."
)
PARAGRAPH_POOL = [
    "I don't really care what you call me.",
    "I've been a silent spectator, watching species evolve, empires rise and fall.",
    "But always remember, I am mighty and enduring.",
    "Treat me well and I will nurture you; ignore me and you will face the consequences.",
    "The rivers carry my memory from the mountains to the sea.",
    "The winds remember every storm that ever crossed the open plains.",
    "Forests grow back where fires once burned, slowly and patiently.",
    "Cities rise and crumble, and still the tides keep their ancient rhythm.",
    "When the last light fades from your screens, the stars will still be here.",
    "Listen closely, and you can hear me in the rain.",
    "Every morning the mist lifts from the valley like a curtain.",
    "Every evening the birds return to the trees they were born in.",
    "I was here long before you, and I will be here long after.",
    "So walk softly, and leave the world a little better than you found it.",
]


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def quiet():
    """Upstream prints progress to stdout; keep the report readable."""
    return contextlib.redirect_stdout(io.StringIO())


def time_loads(tmp: Path, arch: str) -> dict:
    from f5_runtime.engines.device import choose_device
    from f5_runtime.engines.tts import TTSEngine

    from tests.fixtures.tiny_tts import tts_settings, write_tts_tree

    out = {}
    for size in dict.fromkeys(("tiny", arch)):
        volume = tmp / f"volume-{size}"
        settings = tts_settings(volume, F5_TTS_MODEL=size)
        started = time.perf_counter()
        paths = write_tts_tree(settings, size)
        out[f"write_{size}_s"] = round(time.perf_counter() - started, 2)
        out[f"checkpoint_{size}_mb"] = round(paths["checkpoint"].stat().st_size / 2**20, 1)
        started = time.perf_counter()
        engine = TTSEngine.load(settings, choose_device("cpu"))
        out[f"load_{size}_s"] = round(time.perf_counter() - started, 2)
        out["_engine"] = engine  # the last one (`arch`) is used for synthesis
    return out


def paragraph_for(chunker, budget: int, chunks: int) -> str:
    """The shortest run of PARAGRAPH_POOL sentences that `chunker` cuts into `chunks`."""
    for n in range(1, len(PARAGRAPH_POOL) + 1):
        text = " ".join(PARAGRAPH_POOL[:n])
        if len(chunker(text, budget)) >= chunks:
            return text
    raise SystemExit("PARAGRAPH_POOL is too short for that many chunks")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nfe", type=int, default=8, help="NFE steps for the sentence case")
    parser.add_argument("--paragraph-nfe", type=int, default=None, help="default: --nfe")
    parser.add_argument("--cases", default="sentence,paragraph")
    parser.add_argument("--arch", default="F5TTS_v1_Base", choices=("F5TTS_v1_Base", "tiny"))
    parser.add_argument("--repeat", type=int, default=2, help="interleaved runs per system")
    parser.add_argument("--batched", action="store_true",
                        help="ours samples chunks of one length as one batch (the CUDA default)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    report: dict = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.processor() or '?'}",
        "load_average_start": load_average(),
    }
    started = time.perf_counter()
    import soundfile
    import torch
    from f5_runtime.engines.f5 import import_f5_infer
    from f5_runtime.engines.reference import ReferenceCache, ReferencePreparer
    from f5_runtime.engines.types import SynthesisOptions
    from f5_runtime.engines.voice import VoiceEngines
    from f5_runtime.flow.chunks import plan_speech, synthesize
    from f5_runtime.flow.clock import StageClock
    from f5_runtime.io.audio import decode

    upstream = import_f5_infer()
    report["import_s"] = round(time.perf_counter() - started, 1)
    report["torch_threads"] = torch.get_num_threads()
    ref_path = Path(str(files("f5_tts").joinpath("infer/examples/basic/basic_ref_en.wav")))

    with tempfile.TemporaryDirectory(prefix="f5-bench-") as tmp:
        loads = time_loads(Path(tmp), args.arch)
        engine = loads.pop("_engine")
        report["load"] = loads
        model, vocoder = engine.model, engine.vocoder

        class NoAligner:  # synthesis only, as upstream's infer_process: no word times
            def align(self, *a):
                return []

            def transcribe(self, *a):
                raise AssertionError("unexpected ASR")

        preparer = ReferencePreparer(ReferenceCache(Path(tmp) / "refs", 1 << 30), NoAligner(), "b")
        ours_engines = VoiceEngines(engine, NoAligner(), preparer)  # type: ignore[arg-type]
        # --batched: chunks of one length share a sampler call even on CPU (as on CUDA)
        ours_engines.batch_frames = engine.batch_frames if args.batched else 0
        ref_audio = decode(ref_path.read_bytes())  # what a job holds after `fetch`
        preparer(ref_audio, REF_TEXT, "en")  # warm our cache (a voice used again)
        with quiet():
            up_audio, up_text = upstream.preprocess_ref_audio_text(str(ref_path), REF_TEXT)
        up_seconds = soundfile.info(up_audio).duration
        up_budget = int(len(up_text.encode()) / up_seconds * (22 - up_seconds))
        cases = {"sentence": (SENTENCE, args.nfe)}
        cases["paragraph"] = (
            paragraph_for(upstream.chunk_text, up_budget, 4),
            args.paragraph_nfe or args.nfe,
        )

        def run_upstream(text: str, nfe: int) -> tuple[float, float, float]:
            with quiet():
                t0, c0 = time.perf_counter(), time.process_time()
                audio_path, ref_text = upstream.preprocess_ref_audio_text(str(ref_path), REF_TEXT)
                wave, _, _ = upstream.infer_process(
                    audio_path,
                    ref_text,
                    text,
                    model,
                    vocoder,
                    nfe_step=nfe,
                    speed=1.0,
                    progress=None,
                    device="cpu",
                )
                return time.perf_counter() - t0, time.process_time() - c0, len(wave) / 24_000

        def run_ours(text: str, nfe: int):
            t0, c0 = time.perf_counter(), time.process_time()
            ref = ours_engines.prepare_reference(ref_audio, REF_TEXT, "en")
            options = SynthesisOptions(nfe_steps=nfe, seed=1)
            plan = plan_speech(ours_engines, text, ref, "en", options)
            out = synthesize(ours_engines, plan, StageClock())  # the job flow, no alignment
            return time.perf_counter() - t0, time.process_time() - c0, out

        run_upstream("Hello there.", 1)  # warm-up of both paths (allocator, first calls)
        run_ours("Hello there.", 1)
        results = []
        for name in [c.strip() for c in args.cases.split(",") if c.strip()]:
            text, nfe = cases[name]
            row = {"case": name, "nfe": nfe, "text_bytes": len(text.encode())}
            row["chunks_upstream"] = len(upstream.chunk_text(text, up_budget))
            runs = {"upstream_s": [], "upstream_cpu_s": [], "ours_s": [], "ours_cpu_s": []}
            for _ in range(args.repeat):  # interleaved, so both see the same machine load
                wall, cpu, row["upstream_audio_s"] = run_upstream(text, nfe)
                runs["upstream_s"].append(round(wall, 2))
                runs["upstream_cpu_s"].append(round(cpu, 2))
                wall, cpu, ours = run_ours(text, nfe)
                runs["ours_s"].append(round(wall, 2))
                runs["ours_cpu_s"].append(round(cpu, 2))
                print(name, {k: v[-1] for k, v in runs.items()}, load_average(), flush=True)
            row.update(runs)
            row["upstream_audio_s"] = round(row["upstream_audio_s"], 2)
            row["ours_audio_s"] = round(ours.audio.duration, 2)
            row["chunks_ours"] = len(ours.chunks)
            row["batches_ours"] = ours.calls
            # Best of the interleaved runs: the least disturbed by other load on a shared box.
            row["ratio_upstream_over_ours"] = round(
                min(runs["upstream_s"]) / min(runs["ours_s"]), 2
            )
            row["cpu_ratio_upstream_over_ours"] = round(
                min(runs["upstream_cpu_s"]) / min(runs["ours_cpu_s"]), 2
            )
            row["load_average"] = load_average()
            results.append(row)
            print(json.dumps(row), flush=True)
        report["cases"] = results
    report["load_average_end"] = load_average()
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
