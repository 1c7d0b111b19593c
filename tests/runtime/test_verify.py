"""Verified speech: chunks judged from their alignment (or Whisper), failed ones sampled again
with the next seed of the job's sequence, the best kept, `quality` reported; the output's edges
trimmed. The engine double's `__mumble__` chunks drop words for the seeds it is told are bad."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from f5_runtime.config import Settings
from f5_runtime.engines.types import VerifyOptions, Word
from f5_runtime.flow.chunks import speak
from f5_runtime.flow.clock import StageClock
from f5_runtime.flow.job import run_job
from f5_runtime.flow.trim import LEAD_MARGIN_SECONDS, TAIL_MARGIN_SECONDS, trim_edges
from f5_runtime.flow.verify import attempt_seed, judge, word_error_rate
from f5_runtime.io.storage import Storage

from runtime.conftest import wav_bytes
from runtime.engine_double import RATE, ToneEngines, spaced

TEXT = "One two three. Four __mumble__ five six seven eight. Nine ten eleven."
SEED = 7


def job(settings_env, engines, text=TEXT, **options):
    settings = Settings.from_env(settings_env)
    reference = "data:audio/wav;base64," + base64.b64encode(wav_bytes(1.0)).decode()
    raw = {"text": text, "voice_reference_url": reference, "voice_reference_text": "a voice",
           "options": {"seed": SEED, "create_subtitles": False, **options}}
    return run_job(raw, "verify", engines=engines, storage=Storage(settings),
                   settings=settings).to_json()


def only_first_attempt_bad(seed: int) -> bool:
    return seed == SEED


def test_the_bad_chunk_is_regenerated_the_good_ones_are_not(settings_env) -> None:
    engines = ToneEngines(bad_seed=only_first_attempt_bad)
    quality = job(settings_env, engines)["quality"]
    chunks = quality["chunks"]
    assert [c["attempts"] for c in chunks] == [1, 2, 1]
    assert [c["seed"] for c in chunks] == [SEED, attempt_seed(SEED, 1), SEED]
    rejected = chunks[1]["rejected"]
    assert [r["seed"] for r in rejected] == [SEED]
    assert "not placed" in rejected[0]["reasons"][0]
    assert chunks[0]["rejected"] == [] and chunks[1]["scores"]["placed"] == 1.0
    assert quality["regenerated"] == 1 and quality["unverified"] == 0
    sampled = [text for text, _ in engines.seeds]
    assert sampled.count(chunks[1]["text"]) == 2 and sampled.count(chunks[0]["text"]) == 1


def test_the_same_request_gives_the_same_result(settings_env) -> None:
    first = job(settings_env, ToneEngines(bad_seed=only_first_attempt_bad))
    second = job(settings_env, ToneEngines(bad_seed=only_first_attempt_bad))
    assert first["quality"] == second["quality"] and first["quality"]["regenerated"] == 1
    assert first["audio_base64"] == second["audio_base64"]
    assert first["word_timings"] == second["word_timings"]


def test_max_attempts_caps_the_attempts_and_the_best_is_kept(settings_env) -> None:
    engines = ToneEngines(bad_seed=lambda seed: True)
    quality = job(settings_env, engines, max_attempts=4)["quality"]
    bad = quality["chunks"][1]
    assert bad["attempts"] == 4 and len(bad["rejected"]) == 4
    assert bad["seed"] == SEED  # all equally bad: the first is kept
    assert [r["seed"] for r in bad["rejected"]] == [attempt_seed(SEED, k) for k in range(4)]
    assert quality["unverified"] == 1 and quality["regenerated"] == 1


def test_the_time_budget_caps_the_attempts(settings_env) -> None:
    engines = ToneEngines(bad_seed=lambda seed: True)
    quality = job(settings_env, engines, verification={"budget_seconds": 0})["quality"]
    assert [c["attempts"] for c in quality["chunks"]] == [1, 1, 1]
    assert quality["unverified"] == 1


def test_verify_off_never_regenerates(settings_env) -> None:
    engines = ToneEngines(bad_seed=lambda seed: True)
    quality = job(settings_env, engines, verify="off")["quality"]
    assert [c["attempts"] for c in quality["chunks"]] == [1, 1, 1]
    assert all(c["scores"] == {} and c["rejected"] == [] for c in quality["chunks"])
    assert quality["unverified"] == 3  # nothing was verified
    assert "transcribe" not in engines.calls


def test_asr_uses_the_transcriber_and_checks_the_word_error_rate(settings_env) -> None:
    engines = ToneEngines(bad_seed=only_first_attempt_bad)
    # the alignment alone would pass every attempt: only Whisper's words can fail this one
    result = job(settings_env, engines, verify="asr",
                 verification={"max_unplaced": 1.0, "min_rate": 0.0})
    chunks = result["quality"]["chunks"]
    assert engines.calls.count("transcribe") == 4  # 3 chunks + 1 regeneration
    assert [c["attempts"] for c in chunks] == [1, 2, 1]
    assert "word error rate" in chunks[1]["rejected"][0]["reasons"][0]
    assert chunks[1]["scores"]["wer"] == 0.0 and "transcribe" in result["timings"]


def test_chunks_come_out_final_and_in_order_regenerations_batched_together() -> None:
    from runtime.test_flow import plan

    engines = ToneEngines(bad_seed=lambda seed: True, batch_frames=10**9)
    p = plan(engines, "A __mumble__ b c. E __mumble__ f g. I j k l.")
    results = list(speak(engines, p, StageClock()))
    assert [r.index for r in results] == [0, 1, 2]
    assert [r.quality.attempts for r in results] == [3, 3, 1]
    texts = [c.text for c in p.chunks]
    # one call for the first attempts, then the two bad chunks' regenerations share calls
    assert engines.generate_calls == [texts, texts[:2], texts[:2]]
    assert [s for _, s in engines.seeds] == [p.seed] * 3 + [attempt_seed(p.seed, 1)] * 2 + [
        attempt_seed(p.seed, 2)] * 2


def test_judge_names_each_failure() -> None:
    options = VerifyOptions()
    words = [Word("a", 0.0, 0.2, 0.9), Word("b", 2.0, 2.2, 0.9), Word("c", 2.3, 2.4, 0.05)]
    verdict = judge(words, 4.0, options, heard=["a", "b", "b"], expected=["a", "b", "c"])
    text = " | ".join(verdict.reasons)
    assert not verdict.passed
    assert "1.8 s pause before 'b'" in text and "sound after the last word" in text
    assert "word error rate 0.33" not in text  # 1/3 is under the default 0.35
    assert verdict.scores["placed"] == pytest.approx(2 / 3, abs=1e-3)
    assert judge([Word("a", 0.0, 0.9, 0.9)], 1.0, options).passed


def test_word_error_rate() -> None:
    assert word_error_rate(["a", "b", "c"], ["a", "b", "c"]) == 0.0
    assert word_error_rate(["a", "b", "c"], ["a", "c"]) == pytest.approx(1 / 3)
    assert word_error_rate(["a", "b"], ["a", "a", "b", "b"]) == 1.0


def test_trim_cuts_silence_at_the_edges_and_shifts_the_words() -> None:
    speech = np.full(RATE, 0.3, dtype=np.float32)
    samples = np.concatenate([np.zeros(RATE // 2, np.float32), speech,
                              np.zeros(RATE, np.float32)])
    words = [Word("hi", 0.55, 1.4, 0.9)]
    cut, moved = trim_edges(samples, words, RATE, lead=True, tail=True, trust_words=False)
    assert len(cut) / RATE == pytest.approx(1.0 + LEAD_MARGIN_SECONDS + TAIL_MARGIN_SECONDS,
                                            abs=0.02)
    assert moved[0].start == pytest.approx(0.55 - 0.5 + LEAD_MARGIN_SECONDS, abs=0.02)
    # noise before the first verified word is cut too; the words say where speech is
    noisy = samples.copy()
    noisy[: RATE // 2] = 0.3
    cut, moved = trim_edges(noisy, words, RATE, lead=True, tail=False, trust_words=True)
    assert len(cut) == len(noisy) - int((0.55 - LEAD_MARGIN_SECONDS) * RATE)
    assert moved[0].start == pytest.approx(LEAD_MARGIN_SECONDS, abs=1e-3)


def test_a_job_trims_its_leading_silence(settings_env) -> None:
    class LateStart(ToneEngines):
        def vocode(self, generated):
            return [np.concatenate([np.zeros(RATE // 2, np.float32), w])
                    for w in super().vocode(generated)]

        def align(self, audio, text, language):
            return [Word(w.word, w.start + 0.5, w.end + 0.5, w.score)
                    for w in spaced(text.split(), audio.duration - 0.5)]

    result = job(settings_env, LateStart(), text="One two three four.")
    assert result["word_timings"][0]["start"] == pytest.approx(LEAD_MARGIN_SECONDS, abs=0.01)
    assert result["duration"] == pytest.approx(1.7 - (0.5 - LEAD_MARGIN_SECONDS), abs=0.01)


def test_regenerations_go_through_the_scheduler_and_sound_the_same_beside_another_job() -> None:
    """Verification and the engine scheduler together: a job's regeneration is submitted to
    the scheduler (which may batch it with another job's chunks, each chunk keeping its own
    noise), and the job gives the same audio and quality as when it runs alone."""
    import threading

    from f5_runtime.flow.scheduler import scheduler_for

    from runtime.test_flow import plan

    text = "A __mumble__ b c. E f g. I j k l."

    def run(engines, other: str | None = None):
        if other is not None:
            worker = threading.Thread(target=lambda: list(speak(
                engines, plan(engines, other), StageClock())))
            worker.start()
        p = plan(engines, text)
        results = list(speak(engines, p, StageClock()))
        if other is not None:
            worker.join()
        return p, results

    def bad(seed: int) -> bool:
        return seed == 1  # plan()'s seed: each job's first attempt

    alone = ToneEngines(bad_seed=bad, batch_frames=10**9)
    p, first = run(alone)
    together = ToneEngines(bad_seed=bad, batch_frames=10**9)
    together.generate_delay = 0.05
    _, second = run(together, "Other one two. Other three __mumble__ four. Other five.")
    assert [r.quality.attempts for r in first] == [2, 1, 1]
    assert [r.quality for r in first] == [r.quality for r in second]
    for a, b in zip(first, second, strict=True):
        assert np.array_equal(a.samples, b.samples) and a.words == b.words
    assert scheduler_for(together).counters.chunks_done == len(together.seeds)
    assert (p.chunks[0].text, attempt_seed(p.seed, 1)) in alone.seeds
