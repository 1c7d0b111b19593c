"""The GPU check: what a GPU does with this runtime, measured in one run of a few minutes.

    bash benchmarks/gpu_check.sh            # one GPU, real-size models with random weights
    bash benchmarks/gpu_check.sh --smoke    # CPU, tiny models, few steps: the same code, quickly

Sections, each printed (a markdown table) as soon as it is done, so that a run stopped by a
device time limit still reports what it measured:
1. start: process start (the .sh's launch) to ready: imports, engines loaded (the worker's own
   `load_engines`), one warm-up synthesis;
2. rtf: wall time / audio seconds of a short line, a sentence and a paragraph at NFE 32, 16, 7
   (`f5-runtime bench`'s cases and measure: generate, vocode, align, assemble);
3. ttfa: the paragraph streamed as the HTTP server streams it (short first chunk, streaming
   priority): time to the first audio and to the last;
4. concurrency: 1, 4 and 16 jobs at once through the job flow on the shared engines (the engine
   scheduler batches their chunks): requests and audio seconds per second, p50/p95 latency;
5. peak GPU memory (torch's allocator high-water mark; on CPU the resident set's).
Ends with a summary table and one JSON line, also written to $OUT/gpu_check.json (rewritten
after every section). Random weights: the audio is noise and the aligner is tiny (dummy.py),
the F5-TTS and Vocos compute is the real one.

On a machine that is not our image (its own Python and torch) the runtime runs from source and
the wheels of benchmarks/gpu_wheels.sh fill in what the machine lacks: `--site` is put *after*
the machine's packages, so that its own torch, numpy and transformers are the ones used.
Nothing here imports a third-party module before `use_site` has run.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

STARTED = float(os.environ.get("F5_GPU_CHECK_STARTED") or time.time())  # the .sh's launch
STANDINS = Path(__file__).resolve().parent / "gpu_standins"


@dataclass(frozen=True)
class Plan:
    """What one run measures."""

    nfes: tuple[int, ...]
    texts: tuple[str, ...]  # cases of f5_runtime.serving.bench.TEXTS
    stream_text: str
    levels: tuple[int, ...]  # jobs in flight
    level_text: str
    level_nfe: int


FULL = Plan(nfes=(32, 16, 7), texts=("short", "sentence", "paragraph"), stream_text="paragraph",
            levels=(1, 4, 16), level_text="sentence", level_nfe=16)
SMOKE = Plan(nfes=(2,), texts=("short", "sentence"), stream_text="sentence",
             levels=(1, 2), level_text="short", level_nfe=2)


# ---------------------------------------------------------------------------- the path


def unpack(wheels: Path, site: Path) -> None:
    """Every wheel in `wheels` unpacked into `site` (once: a marker names what is there)."""
    names = sorted(p.name for p in wheels.glob("*.whl"))
    marker = site / ".unpacked"
    if marker.exists() and marker.read_text().split() == names:
        return
    site.mkdir(parents=True, exist_ok=True)
    for name in names:
        with zipfile.ZipFile(wheels / name) as whl:
            for member in whl.infolist():
                parts = Path(member.filename).parts
                # a wheel's <name>.data/purelib|platlib/ holds modules for site-packages
                if parts[0].endswith(".data"):
                    if len(parts) < 3 or parts[1] not in ("purelib", "platlib"):
                        continue
                    parts = parts[2:]
                target = site.joinpath(*parts)
                if member.is_dir():
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(whl.read(member))
                if member.external_attr >> 16 & 0o111:
                    target.chmod(0o755)
    marker.write_text("\n".join(names))


def wheels_for_this_python(wheels: Path) -> bool:
    """Whether every compiled wheel in `wheels` loads in this interpreter (its ABI tag)."""
    minor = sys.version_info.minor
    for path in wheels.glob("*.whl"):
        python, abi = path.name.split("-")[-3:-1]
        if abi.startswith("cp") and abi != f"cp3{minor}":
            return False
        if abi == "abi3" and python.startswith("cp3") and int(python[3:]) > minor:
            return False  # the stable ABI from that version on
    return True


def use_site(site: Path | None) -> None:
    """The wheels' site, then the stand-ins, after the machine's own packages: gaps only."""
    for path in (site, STANDINS):
        if path is not None and str(path) not in sys.path:
            sys.path.append(str(path))


# What the check imports, in order; a failure names the missing module and what needs it.
REQUIRED = ("torch", "numpy", "torchaudio", "transformers", "f5_tts.model", "vocos",
            "whisperx.alignment", "f5_runtime.engines.voice", "f5_runtime.serving.bench")


def missing_modules() -> list[str]:
    import importlib

    problems = []
    for module in REQUIRED:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            problems.append(f"{exc.name} (needed by {module})" if exc.name != module else module)
        except Exception as exc:  # a compiled module that does not load with this torch/numpy
            problems.append(f"{module} does not load: {type(exc).__name__}: {exc}")
    return problems


# ---------------------------------------------------------------------------- output


class Report:
    """The results so far: printed per section, written to $OUT after each one."""

    def __init__(self, out: Path | None, header: dict):
        self.out = out
        self.data = {**header, "complete": False}

    def section(self, key: str, value, table: list[list]) -> None:
        self.data[key] = value
        print(markdown(table), flush=True)
        self.save()

    def save(self) -> None:
        if self.out is not None:
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / "gpu_check.json").write_text(json.dumps(self.data) + "\n")


def markdown(rows: list[list]) -> str:
    head, *body = rows
    lines = ["| " + " | ".join(map(str, head)) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in body]
    return "\n" + "\n".join(lines) + "\n"


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile, linearly interpolated (q in 0..100)."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# ---------------------------------------------------------------------------- the sections


class Check:
    def __init__(self, settings, plan: Plan, report: Report):
        self.settings = settings
        self.plan = plan
        self.report = report
        self.peaks: list[float] = []

    def start(self) -> None:
        import torch
        from f5_runtime.io.audio import decode
        from f5_runtime.serving import bench
        from f5_runtime.serving.worker import load_engines

        imported = time.time()
        self.engines = load_engines(self.settings)  # as the worker does before its first job
        loaded = time.time()
        self.voice = decode(bench.reference_bytes(), what="voice reference")
        self.memory = bench.PeakMemory(self.engines.tts.choice.is_cuda)
        self.speak(bench.TEXTS["short"], nfe=2)  # warm-up: kernels, allocator, reference
        if self.memory.cuda:
            torch.cuda.synchronize()
        ready = time.time()
        self.peaks.append(self.memory.peak_mb())
        choice = self.engines.tts.choice
        self.report.data.update(
            device=choice.device, device_name=choice.name, dtype=choice.dtype,
            attn_backend=choice.attn_backend, torch=torch.__version__,
            peak_memory=self.memory.kind)
        stages = {"imports": imported - STARTED, "load": loaded - imported, "warm": ready - loaded}
        self.report.section("start_stages_s", {k: round(v, 2) for k, v in stages.items()}, [
            ["start to ready s", "imports s", "engines loaded s", "warm-up s"],
            [f"{ready - STARTED:.2f}", *(f"{v:.2f}" for v in stages.values())]])
        self.report.data["start_to_ready_s"] = round(ready - STARTED, 2)
        self.report.save()

    def speak(self, text: str, nfe: int, seed: int | None = None):
        from f5_runtime.engines.types import SynthesisOptions
        from f5_runtime.serving import bench

        options = SynthesisOptions(nfe_steps=nfe, seed=bench.SEED if seed is None else seed)
        return bench.speak(self.engines, self.voice, text, options)

    def rtf(self) -> None:
        from f5_runtime.serving import bench

        cases = []
        table = [["text", "NFE", "audio s", "wall s", "RTF", "chunks", "sampler calls", "peak MB"]]
        for nfe in self.plan.nfes:
            for name in self.plan.texts:
                case = bench.measure(self.engines, self.voice, self.memory, name, nfe)
                cases.append(case)
                self.peaks.append(case["peak_memory_mb"])
                table.append([name, nfe, case["audio_s"], case["wall_s"], case["rtf"],
                              case["chunks"], case["sampler_calls"], case["peak_memory_mb"]])
        self.report.section("rtf", cases, table)

    def ttfa(self) -> None:
        from f5_runtime.engines.types import SynthesisOptions
        from f5_runtime.flow.chunks import STREAM_FIRST_CHUNK_SCALE, plan_speech, synthesize
        from f5_runtime.flow.clock import StageClock
        from f5_runtime.flow.control import JobControl
        from f5_runtime.serving import bench

        rows = []
        table = [["text", "NFE", "first audio s", "last audio s", "audio s", "chunks"]]
        name = self.plan.stream_text
        for nfe in self.plan.nfes:
            self.memory.reset()
            options = SynthesisOptions(nfe_steps=nfe, seed=bench.SEED,
                                       first_chunk_scale=STREAM_FIRST_CHUNK_SCALE)
            t0 = time.perf_counter()
            clock = StageClock()
            reference = self.engines.prepare_reference(self.voice, bench.REFERENCE_TEXT, "en")
            plan = plan_speech(self.engines, bench.TEXTS[name], reference, "en", options,
                               bench.VERIFY)
            heard: list[float] = []  # when the first audio was released

            def on_piece(spoken, heard=heard, t0=t0) -> None:
                if not heard and len(spoken.piece.samples):
                    heard.append(time.perf_counter() - t0)

            speech = synthesize(self.engines, plan, clock, JobControl(streaming=True), on_piece)
            total = time.perf_counter() - t0
            self.peaks.append(self.memory.peak_mb())
            row = {"text": name, "nfe": nfe, "ttfa_s": round(heard[0] if heard else total, 3),
                   "total_s": round(total, 3), "audio_s": round(speech.audio.duration, 3),
                   "chunks": len(speech.chunks)}
            rows.append(row)
            table.append([name, nfe, row["ttfa_s"], row["total_s"], row["audio_s"], row["chunks"]])
        self.report.section("ttfa", rows, table)

    def concurrency(self) -> None:
        from f5_runtime.flow.scheduler import scheduler_for
        from f5_runtime.serving import bench

        counters = scheduler_for(self.engines).counters
        text = bench.TEXTS[self.plan.level_text]
        levels = []
        table = [["jobs in flight", "requests", "requests/s", "audio s/s", "p50 s", "p95 s",
                  "mean batch", "peak MB"]]
        for n in self.plan.levels:
            requests = max(4, 2 * n)

            def one(i: int) -> tuple[float, float]:
                t0 = time.perf_counter()
                speech = self.speak(text, self.plan.level_nfe, seed=bench.SEED + i)[0]
                return time.perf_counter() - t0, speech.audio.duration

            self.memory.reset()
            batches, chunks = counters.batches, counters.chunks_done
            t0 = time.perf_counter()
            with ThreadPoolExecutor(n, thread_name_prefix="gpu-check-job") as pool:
                results = list(pool.map(one, range(requests)))
            wall = time.perf_counter() - t0
            peak = self.memory.peak_mb()
            self.peaks.append(peak)
            latencies = [r[0] for r in results]
            made = counters.batches - batches
            level = {
                "in_flight": n, "requests": requests, "nfe": self.plan.level_nfe,
                "wall_s": round(wall, 3),
                "requests_per_s": round(requests / wall, 3),
                "audio_s_per_s": round(sum(r[1] for r in results) / wall, 3),
                "p50_s": round(percentile(latencies, 50), 3),
                "p95_s": round(percentile(latencies, 95), 3),
                "mean_latency_s": round(statistics.fmean(latencies), 3),
                "mean_batch": round((counters.chunks_done - chunks) / max(made, 1), 2),
                "peak_memory_mb": round(peak, 1),
            }
            levels.append(level)
            table.append([n, requests, *(level[k] for k in (
                "requests_per_s", "audio_s_per_s", "p50_s", "p95_s", "mean_batch",
                "peak_memory_mb"))])
        self.report.section("concurrency", levels, table)

    def finish(self) -> None:
        data = self.report.data
        data["peak_memory_mb"] = round(max(self.peaks), 1)
        data["complete"] = True
        self.report.save()
        summary = [["figure", "value"], ["start to ready s", data["start_to_ready_s"]]]
        summary += [[f"RTF {c['text']} NFE {c['nfe']}", c["rtf"]] for c in data["rtf"]]
        summary += [[f"first audio s, {t['text']} NFE {t['nfe']}", t["ttfa_s"]]
                    for t in data["ttfa"]]
        summary += [[f"{c['in_flight']} in flight: requests/s, p50 s, p95 s",
                     f"{c['requests_per_s']}, {c['p50_s']}, {c['p95_s']}"]
                    for c in data["concurrency"]]
        summary.append([f"peak memory MB ({data['peak_memory']})", data["peak_memory_mb"]])
        print(markdown(summary))
        print(json.dumps(data), flush=True)


# ---------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="CPU, tiny models, few steps")
    parser.add_argument("--wheels", type=Path, help="wheels of gpu_wheels.sh to unpack into --site")
    parser.add_argument("--site", type=Path, help="unpacked wheels, after the machine's packages")
    parser.add_argument("--out", type=Path, default=os.environ.get("OUT") or None,
                        help="write gpu_check.json here (default $OUT)")
    args = parser.parse_args()
    site = None
    if args.wheels is not None and args.site is not None and any(args.wheels.glob("*.whl")):
        if wheels_for_this_python(args.wheels):
            unpack(args.wheels, args.site)
            site = args.site
        else:
            print(f"gpu_check: not using {args.wheels}: its wheels are for another Python "
                  f"than this {platform.python_version()}", file=sys.stderr)
    use_site(site)
    problems = missing_modules()
    if problems:
        print(f"gpu_check: {sys.executable} cannot import " + "; ".join(problems) + ".\n"
              "Bring what is missing with `bash benchmarks/gpu_wheels.sh` where there is network "
              "(torchaudio matching this torch: --torchaudio VERSION) and carry .gpu-wheels; "
              "PYTHON=... picks another interpreter.", file=sys.stderr)
        return 2
    import torch
    from f5_runtime.config import Settings

    settings = Settings.from_env()
    if not args.smoke and not torch.cuda.is_available():
        print("gpu_check: no CUDA device; on a CPU run `gpu_check.sh --smoke`", file=sys.stderr)
        return 2
    plan = SMOKE if args.smoke else FULL
    header = {
        "check": "gpu_check", "mode": "smoke" if args.smoke else "full",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "host": platform.node(), "python": platform.python_version(), "cpus": os.cpu_count(),
        "tts_model": settings.tts_model, "load_format": settings.load_format,
    }
    print(f"gpu_check ({header['mode']}): {settings.summary()}", flush=True)
    check = Check(settings, plan, Report(args.out, header))
    check.start()
    check.rtf()
    check.ttfa()
    check.concurrency()
    check.finish()
    return 0


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="f5-gpu-check-") as volume:
        os.environ.setdefault("F5_VOLUME", volume)  # nothing written outside it
        sys.exit(main())
