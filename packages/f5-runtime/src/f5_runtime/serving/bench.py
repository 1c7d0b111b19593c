"""`f5-runtime bench`: wall time of each stage, real-time factor and peak memory per case.

    f5-runtime bench [--device cuda|cpu] [--nfe 32,16] [--texts short,paragraph] [--repeat N]
                     [--dummy] [--json]

Runs the real engines (load_engines) through the job flow's chunk generator (the same code
as a job) on f5-tts's packaged English reference clip. When the models are not on the volume
it runs with random weights of the real sizes (F5_LOAD_FORMAT=dummy): the audio is noise, the
compute cost is the real one. RTF = wall time of the whole synthesis (reference, generate,
vocode, align, assemble) / seconds of audio produced; the stage times are the flow's own.
Peak memory is measured per case: on CUDA torch's own counter (max_memory_allocated, reset
before each case); on CPU the process's resident-set high-water mark, reset before each case
through /proc/self/clear_refs (Linux), else the peak of Python allocations (tracemalloc).
The prepared references go to a temp directory, never into the volume's `refs/` cache.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
import tracemalloc
from dataclasses import replace
from importlib.resources import files
from pathlib import Path

from f5_runtime.engines.types import SynthesisOptions, VerifyOptions
from f5_runtime.errors import ModelMissingError

log = logging.getLogger(__name__)

REFERENCE_TEXT = "Some call me nature, others call me mother nature."
TEXTS = {
    "short": "I don't really care what you call me.",
    "sentence": (
        "I've been a silent spectator, watching species evolve, empires rise and fall; "
        "but always remember, I am mighty and enduring."
    ),
    "paragraph": (
        "I don't really care what you call me. I've been a silent spectator, watching species "
        "evolve, empires rise and fall. But always remember, I am mighty and enduring. "
        "Treat me well and I will nurture you; ignore me and you will face the consequences. "
        "The rivers carry my memory from the mountains to the sea, and the winds remember every "
        "storm. Forests grow back where fires once burned, slowly, patiently, without asking "
        "for thanks. Cities rise and crumble, and still the tides keep their ancient rhythm. "
        "When the last light fades from your screens, the stars will still be here, burning "
        "quietly above the quiet hills. Listen closely, and you can hear me in the rain."
    ),
}
SEED = 1234
# Verification off: bench measures the sampler (random weights always fail verification, and
# their regenerations would count as sampler calls); benchmarks/quality_eval.py measures it.
VERIFY = VerifyOptions(mode="off")


def reference_bytes() -> bytes:
    return files("f5_tts").joinpath("infer/examples/basic/basic_ref_en.wav").read_bytes()


def models_present(settings) -> bool:
    from f5_runtime.models import manifest as models

    try:
        models.tts_checkpoint(settings)
        models.vocoder_dir(settings)
        for language in settings.languages:
            models.align_model(settings, language)
        models.require_punkt(settings)
    except ModelMissingError as exc:
        log.warning("%s; benchmarking with random weights (F5_LOAD_FORMAT=dummy)", exc)
        return False
    return True


class PeakMemory:
    """Peak memory of one case: reset() before it, peak_mb() after; `kind` says what it is."""

    def __init__(self, cuda: bool):
        self.cuda = cuda
        self.kind = "cuda allocated" if cuda else "RSS high-water"
        if not cuda and not self._reset_rss_peak():
            self.kind = "python allocations (tracemalloc)"

    @staticmethod
    def _reset_rss_peak() -> bool:
        try:  # "5" resets VmHWM, the peak resident set size (Linux >= 4.0)
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:
            return False
        return True

    def reset(self) -> None:
        if self.cuda:
            import torch

            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        elif self.kind == "RSS high-water":
            self._reset_rss_peak()
        else:
            tracemalloc.stop()
            tracemalloc.start()

    def peak_mb(self) -> float:
        if self.cuda:
            import torch

            return torch.cuda.max_memory_allocated() / 2**20
        if self.kind == "RSS high-water":
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
        return tracemalloc.get_traced_memory()[1] / 2**20


def speak(engines, voice, text: str, options: SynthesisOptions):
    """One synthesis through the flow, as a job does it (verification off: VERIFY): (speech,
    stage timings, sampler calls)."""
    from f5_runtime.flow.chunks import plan_speech, synthesize
    from f5_runtime.flow.clock import StageClock
    from f5_runtime.flow.scheduler import scheduler_for

    counters = scheduler_for(engines).counters
    batches_before = counters.batches
    clock = StageClock()
    clock.enter("reference")
    reference = engines.prepare_reference(voice, REFERENCE_TEXT, "en")
    clock.enter("generate")
    speech = synthesize(engines, plan_speech(engines, text, reference, "en", options, VERIFY),
                        clock)
    clock.stop()
    return speech, clock.timings, counters.batches - batches_before


def measure(engines, voice, memory: PeakMemory, name: str, nfe: int) -> dict:
    """One case: `TEXTS[name]` at `nfe` steps, its wall time, RTF, stages and peak memory."""
    options = SynthesisOptions(nfe_steps=nfe, seed=SEED)
    memory.reset()
    t0 = time.perf_counter()
    speech, stages, calls = speak(engines, voice, TEXTS[name], options)
    wall = time.perf_counter() - t0
    return {
        "text": name,
        "nfe": nfe,
        "wall_s": round(wall, 3),
        "audio_s": round(speech.audio.duration, 3),
        "rtf": round(wall / speech.audio.duration, 4),
        "chunks": len(speech.chunks),
        "sampler_calls": calls,
        "stages_s": {k: round(v, 3) for k, v in stages.items()},
        "peak_memory_mb": round(memory.peak_mb(), 1),
    }


def run(settings, nfes: list[int], texts: list[str], repeat: int = 1) -> dict:
    if settings.load_format != "dummy" and not models_present(settings):
        settings = replace(settings, load_format="dummy")
    with tempfile.TemporaryDirectory(prefix="f5-bench-refs-") as refs:
        # A throwaway reference cache: the production `refs/` on the volume stays untouched.
        return _run(replace(settings, refs_dir=Path(refs)), nfes, texts, repeat)


def _run(settings, nfes: list[int], texts: list[str], repeat: int) -> dict:
    import torch

    from f5_runtime.engines.voice import load_voice_engines
    from f5_runtime.io.audio import decode

    started = time.perf_counter()
    engines = load_voice_engines(settings)
    load_seconds = time.perf_counter() - started
    choice = engines.tts.choice
    voice = decode(reference_bytes(), what="voice reference")
    # Warm-up (kernels, allocator, reference cache): not measured.
    speak(engines, voice, TEXTS["short"], SynthesisOptions(nfe_steps=2))
    cases = []
    memory = PeakMemory(choice.is_cuda)
    for name in texts:
        for nfe in nfes:
            cases += [measure(engines, voice, memory, name, nfe) for _ in range(repeat)]
    return {
        "device": choice.device,
        "device_name": choice.name,
        "dtype": choice.dtype,
        "attn_backend": choice.attn_backend,
        "tts_model": settings.tts_model,
        "load_format": settings.load_format,
        "torch": torch.__version__,
        "load_s": round(load_seconds, 2),
        "peak_memory": memory.kind,
        "cases": cases,
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", choices=("auto", "cuda", "cpu"), default=None)
    parser.add_argument("--nfe", default="32,16", help="comma-separated NFE steps (default 32,16)")
    parser.add_argument(
        "--texts",
        default="short,paragraph",
        help=f"comma-separated cases from {', '.join(TEXTS)} (default short,paragraph)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per case (default 1)")
    parser.add_argument("--dummy", action="store_true", help="random weights even if models exist")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")


def main(args: argparse.Namespace) -> int:
    from f5_runtime.config import Settings

    settings = Settings.from_env()
    if args.device:
        settings = replace(settings, device=args.device)
    if args.dummy:
        settings = replace(settings, load_format="dummy")
    texts = [t.strip() for t in args.texts.split(",") if t.strip()]
    unknown = [t for t in texts if t not in TEXTS]
    if unknown:
        raise SystemExit(f"unknown --texts {', '.join(unknown)}: choose from {', '.join(TEXTS)}")
    nfes = [int(n) for n in args.nfe.split(",") if n.strip()]
    result = run(settings, nfes, texts, repeat=max(1, args.repeat))
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(
        f"{result['device_name']} ({result['device']}, {result['dtype']}, attention "
        f"{result['attn_backend']}), {result['tts_model']} weights={result['load_format']}, "
        f"torch {result['torch']}, load {result['load_s']} s; peak memory per case: "
        f"{result['peak_memory']}"
    )
    print(f"{'text':<10} {'nfe':>4} {'wall s':>8} {'audio s':>8} {'RTF':>7} {'peak MB':>9}  stages")
    for c in result["cases"]:
        stages = " ".join(f"{k}={v}" for k, v in c["stages_s"].items())
        print(
            f"{c['text']:<10} {c['nfe']:>4} {c['wall_s']:>8.2f} {c['audio_s']:>8.2f} "
            f"{c['rtf']:>7.3f} {c['peak_memory_mb']:>9.0f}  {stages}"
        )
    return 0
