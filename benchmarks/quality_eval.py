"""Verified speech: word error rate and regeneration rate with `verify` off and on, and what
verification costs.

A fixed set of sentences (digits, currencies, abbreviations, short lines and long ones) is
synthesized through the runtime's own flow with verification off, "align" and "asr"; every
output is transcribed by Whisper (the engines' `transcribe`) and compared with the spoken text
(word error rate, normalised words). Per mode it reports the WER, the share of chunks
regenerated and never passed, and the seconds of generate / align / transcribe per second
of audio, so that the cost of "align" (no extra model), of "asr" and of the worst case
(every chunk failing `max_attempts` times) read as ratios of one run.

    uv run --frozen python benchmarks/quality_eval.py            # the models on the volume
    F5_LOAD_FORMAT=dummy F5_TTS_MODEL=tiny uv run --frozen python benchmarks/quality_eval.py --smoke

With random weights (F5_LOAD_FORMAT=dummy) the figures are MEANINGLESS (the speech is noise,
every chunk fails): the run only proves the plumbing; it says so in its output. Writes
benchmarks/out/quality_eval.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

SENTENCES = [
    "Hi.",
    "Yes, I know.",
    "Dr. Smith paid $5.50 for 3 apples on 2024-03-05.",
    "The meeting starts at 10:05 in room 21, e.g. the one on the 2nd floor.",
    "It is 20°C and 45% humid; the road is 12km long.",
    "Call me at 7:00, not at 6:30.",
    "I don't really care what you call me. I've been a silent spectator, watching species "
    "evolve, empires rise and fall. But always remember, I am mighty and enduring.",
    "Treat me well and I will nurture you; ignore me and you will face the consequences. "
    "The rivers carry my memory from the mountains to the sea, and the winds remember every "
    "storm, every flood, every drought since 1850.",
]
SMOKE_SENTENCES = SENTENCES[:3]
MODES = ("off", "align", "asr")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="three sentences, nfe 4")
    parser.add_argument("--nfe-steps", type=int, default=None)
    parser.add_argument("--max-attempts", type=int, default=3)
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parent / "out" / "quality_eval.json")
    args = parser.parse_args()

    from f5_runtime.config import Settings
    from f5_runtime.engines import load_engines
    from f5_runtime.engines.normalize import comparable_words
    from f5_runtime.engines.types import SynthesisOptions, VerifyOptions
    from f5_runtime.flow.chunks import plan_speech, synthesize
    from f5_runtime.flow.clock import StageClock
    from f5_runtime.flow.verify import word_error_rate
    from f5_runtime.io.audio import decode
    from f5_runtime.serving.bench import REFERENCE_TEXT, reference_bytes

    settings = Settings.from_env(os.environ)
    random_weights = settings.load_format == "dummy"
    engines = load_engines(settings)
    voice = decode(reference_bytes(), what="voice reference")
    reference = engines.prepare_reference(voice, REFERENCE_TEXT, "en")
    sentences = SMOKE_SENTENCES if args.smoke else SENTENCES
    nfe = args.nfe_steps or (4 if args.smoke else 32)
    options = SynthesisOptions(nfe_steps=nfe, seed=1234, normalize="en")

    # warm up (first calls pay for lazy loading and allocations), so that modes compare fairly
    synthesize(engines, plan_speech(engines, sentences[0], reference, "en", options,
                                    VerifyOptions(mode="asr", max_attempts=1)), StageClock())
    rows = {}
    for mode in MODES:
        verify = VerifyOptions(mode=mode, max_attempts=args.max_attempts, budget_seconds=1e9)
        errors = words = chunks = regenerated = unverified = 0
        audio_seconds = 0.0
        stages: dict[str, float] = {}
        for text in sentences:
            clock = StageClock()
            plan = plan_speech(engines, text, reference, "en", options, verify)
            speech = synthesize(engines, plan, clock)
            clock.stop()
            for stage, seconds in clock.timings.items():
                stages[stage] = stages.get(stage, 0.0) + seconds
            audio_seconds += speech.audio.duration
            expected = comparable_words(text, "en")
            heard = comparable_words(engines.transcribe(speech.audio, "en").text, "en")
            errors += round(word_error_rate(expected, heard) * len(expected))
            words += len(expected)
            chunks += len(speech.quality)
            regenerated += sum(q.attempts > 1 for q in speech.quality)
            unverified += sum(q.passed is not True for q in speech.quality)
        rows[mode] = {
            "wer": round(errors / max(words, 1), 3),
            "chunks": chunks,
            "regenerated": round(regenerated / max(chunks, 1), 3),
            "unverified": round(unverified / max(chunks, 1), 3),
            "audio_seconds": round(audio_seconds, 2),
            "per_audio_second": {k: round(v / max(audio_seconds, 1e-9), 4)
                                 for k, v in stages.items()},
        }

    base = rows["off"]["per_audio_second"]
    base_total = sum(base.values())
    for mode in MODES:
        total = sum(rows[mode]["per_audio_second"].values())
        rows[mode]["cost_vs_off"] = round(total / max(base_total, 1e-9), 2)
    report = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "model": settings.tts_model, "load_format": settings.load_format, "nfe_steps": nfe,
        "max_attempts": args.max_attempts, "sentences": len(sentences),
        "meaningless": random_weights, "modes": rows,
    }
    if random_weights:
        print("RANDOM WEIGHTS (F5_LOAD_FORMAT=dummy): the speech is noise and every chunk "
              "fails verification; these figures are MEANINGLESS except as costs of the "
              "worst case (every chunk sampled max_attempts times).")
    print("| verify | WER | regenerated | never passed | s per audio s | vs off |")
    print("|---|---|---|---|---|---|")
    for mode, row in rows.items():
        print(f"| {mode} | {row['wer']:.2f} | {row['regenerated']:.0%} | "
              f"{row['unverified']:.0%} | {sum(row['per_audio_second'].values()):.3f} | "
              f"{row['cost_vs_off']:.2f}x |")
    for mode, row in rows.items():
        print(f"{mode}: " + ", ".join(f"{k} {v}" for k, v in row["per_audio_second"].items()))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    started = time.perf_counter()
    code = main()
    print(f"({time.perf_counter() - started:.0f} s)")
    sys.exit(code)
