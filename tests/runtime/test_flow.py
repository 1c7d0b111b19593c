"""The job flow: the stage clock, the chunk generator and its batches, the assembler (cross-
fades, word placement: the one interpolation of untimed words), and honest timings."""

from __future__ import annotations

import base64
import itertools
import math
import time

import numpy as np
import pytest
from f5_runtime.config import Settings
from f5_runtime.engines.types import Audio, SynthesisOptions, Word
from f5_runtime.flow.assemble import Assembler, Timeline, place_segments, place_words
from f5_runtime.flow.chunks import plan_speech, speak, synthesize
from f5_runtime.flow.clock import StageClock
from f5_runtime.flow.control import JobControl
from f5_runtime.flow.job import run_job
from f5_runtime.flow.scheduler import JobHandle
from f5_runtime.io.storage import Storage

from runtime.conftest import wav_bytes
from runtime.engine_double import RATE, ToneEngines

TEXT = "One two three. Four five six seven! Eight nine. Ten eleven twelve thirteen fourteen."


def voice() -> Audio:
    return Audio(np.zeros(RATE, dtype=np.float32) + 0.1, RATE)


def plan(engines, text=TEXT, **options):
    reference = engines.prepare_reference(voice(), "a reference", "en")
    return plan_speech(engines, text, reference, "en", SynthesisOptions(seed=1, **options))


# ----------------------------------------------------------------------------- stage clock


def test_the_clock_attributes_every_moment_to_one_stage() -> None:
    seen = []
    clock = StageClock(seen.append)
    for name in ("fetch", "generate", "align", "generate", "generate"):
        clock.enter(name)
        time.sleep(0.01)
    total = clock.stop()
    assert list(clock.timings) == ["fetch", "generate", "align"]
    assert sum(clock.timings.values()) == pytest.approx(total, abs=1e-6)
    assert clock.timings["generate"] > clock.timings["align"]  # re-entered stages add up
    assert [s.name for s in seen] == ["fetch", "generate", "align", "generate"]  # changes only
    assert clock.stop() == total


@pytest.mark.parametrize("text", ["Hello there.", TEXT])
def test_published_timings_add_up_to_the_processing_time(settings_env, text) -> None:
    settings = Settings.from_env(settings_env)
    reference = "data:audio/wav;base64," + base64.b64encode(wav_bytes(1.0)).decode()
    result = run_job({"text": text, "voice_reference_url": reference}, "sum", engines=ToneEngines(),
                     storage=Storage(settings), settings=settings).to_json()
    timings = result["timings"]
    assert set(timings) == {"validate", "fetch", "reference", "generate", "vocode", "align",
                            "assemble", "encode", "subtitles", "publish"}
    assert math.fsum(timings.values()) == pytest.approx(result["processing_time"], abs=0.005)


# ----------------------------------------------------------------------------- chunks


def test_chunks_come_in_order_whatever_the_batches() -> None:
    engines = ToneEngines(batch_frames=10**9)
    p = plan(engines)
    assert [len(c.text.split()) for c in p.chunks] == [3, 4, 2, 5]
    results = list(speak(engines, p, StageClock()))
    assert engines.generate_calls == [[c.text for c in p.chunks]]  # one batch, any lengths
    assert [r.index for r in results] == [0, 1, 2, 3]
    assert [r.text for r in results] == [c.text for c in p.chunks]
    assert all(r.count == 4 and r.sample_rate == RATE for r in results)
    starts = [r.start for r in results]
    fade = Timeline(RATE).fade
    for previous, result in itertools.pairwise(results):
        assert result.start == previous.start + len(previous.samples) - fade
    assert starts[0] == 0 and results[1].offset == pytest.approx(starts[1] / RATE)
    assert [w.word for r in results for w in r.words] == TEXT.split()


def test_a_stream_queues_its_first_chunk_alone_then_each_under_its_own_index(monkeypatch
                                                                              ) -> None:
    submitted: list[list[int]] = []
    submit_each = JobHandle.submit_each

    def recorded(handle, works):
        submitted.append([index for index, _ in works])
        return submit_each(handle, works)

    monkeypatch.setattr(JobHandle, "submit_each", recorded)
    engines = ToneEngines()
    p = plan(engines, "One. Two. Three. Four. Five. Six.")
    results = list(speak(engines, p, StageClock(), JobControl(streaming=True)))
    assert [r.index for r in results] == [0, 1, 2, 3, 4, 5]
    assert submitted[0] == [0], "the first chunk goes alone"
    assert len(submitted) > 2, "the rest a few at a time, as the consumer takes them"
    # (the scheduler's priority and per-job order read these indexes)
    assert [i for batch in submitted for i in batch] == [0, 1, 2, 3, 4, 5]


def test_batched_and_one_by_one_give_the_same_speech() -> None:
    text = "One two three. Four five six. Seven eight nine. Ten eleven."
    one_by_one = synthesize(ToneEngines(), plan(ToneEngines(), text), StageClock())
    batched_engines = ToneEngines(batch_frames=10**9)
    batched = synthesize(batched_engines, plan(ToneEngines(), text), StageClock())
    assert batched_engines.generate_calls == [["One two three.", "Four five six.",
                                               "Seven eight nine.", "Ten eleven."]]
    assert np.array_equal(batched.audio.samples, one_by_one.audio.samples)
    assert batched.words == one_by_one.words


def test_dubbing_target_is_met_exactly() -> None:
    engines = ToneEngines()
    speech = synthesize(engines, plan(engines, target_duration=3.3), StageClock())
    assert len(speech.audio.samples) == round(3.3 * RATE)
    assert speech.words[-1].end <= 3.3


# ----------------------------------------------------------------------------- assembly


def cross_fade_join(waves: list[np.ndarray], fade: int) -> np.ndarray:
    """The join as one operation over every chunk (the behaviour before the incremental
    assembler): the assembler must give exactly these samples."""
    out = waves[0]
    for wave in waves[1:]:
        n = min(fade, len(out), len(wave))
        ramp = np.linspace(0.0, 1.0, n, dtype=np.float32)
        out = np.concatenate([out[: len(out) - n], out[len(out) - n :] * (1 - ramp)
                              + wave[:n] * ramp, wave[n:]])
    return out


def test_the_assembler_releases_all_but_the_tail_and_joins_like_one_cross_fade() -> None:
    rng = np.random.default_rng(0)
    waves = [rng.standard_normal(n).astype(np.float32) for n in (5000, 100, 3000, 7000)]
    assembler = Assembler(RATE)
    fade = assembler.timeline.fade
    released = []
    for wave in waves:
        piece = assembler.add(wave, [])
        assert piece.start == sum(len(p) for p in released)
        released.append(piece.samples)
        held = assembler.timeline.end - piece.start - len(piece.samples)
        assert held == min(fade, assembler.timeline.end), "only the cross-fade tail waits"
    released.append(assembler.finish().samples)
    streamed = np.concatenate(released)
    assert np.array_equal(streamed, cross_fade_join(waves, fade))
    assert np.array_equal(assembler.audio.samples, streamed)


def test_words_are_placed_at_their_chunk_and_untimed_ones_filled_once() -> None:
    assembler = Assembler(RATE)
    first = assembler.add(np.zeros(RATE, np.float32), [Word("a", 0.1, 0.5, 0.9),
                                                       Word("bb", None, None)])
    second = assembler.add(np.zeros(RATE, np.float32), [Word("c", 0.0, 0.2, 0.8),
                                                        Word("dd", 0.5, 0.9, 0.7)])
    assert [(w.word, w.start, w.end, w.score) for w in first.words] == [
        ("a", 0.1, 0.5, 0.9), ("bb", 0.5, 1.0, 0.0)]  # untimed: the rest of its chunk
    assert [(w.start, w.end) for w in second.words] == [(1.0, 1.1), (1.4, 1.8)]  # after "bb"
    assembler.finish()
    assert assembler.words == [*first.words, *second.words]


def test_place_words_shares_gaps_by_length_and_never_goes_back() -> None:
    words = [Word("one", 0.5, 1.0, 0.9), Word("x", None, None), Word("xxx", None, None),
             Word("four", 3.0, 3.5, 0.8)]
    placed = place_words(words, 0.0, 4.0)
    assert [(w.start, w.end) for w in placed] == [(0.5, 1.0), (1.0, 1.5), (1.5, 3.0), (3.0, 3.5)]
    assert [w.score for w in placed] == [0.9, 0.0, 0.0, 0.8]
    nan = float("nan")
    odd = [Word("a", None, None), Word("b", nan, 1.0), Word("c", 2.0, 1.0), Word("d", 5.0, 9.0),
           Word("", None, None), Word("e", None, 0.5)]
    filled = place_words(odd, 10.0, 4.0, after=10.2)
    assert [w.word for w in filled] == ["a", "b", "c", "d", "e"]
    previous_end = 10.2
    for w in filled:
        assert previous_end <= w.start <= w.end <= 14.0 and type(w.start) is float
        previous_end = w.end
    assert place_words([], 0.0, 3.0) == []
    spread = place_words([Word("x", None, None), Word("yy", None, None)], 0.0, 3.0)
    assert [(w.start, w.end) for w in spread] == [(0.0, 1.0), (1.0, 3.0)]


def test_segments_are_placed_each_inside_its_own_stretch() -> None:
    from f5_runtime.engines.types import Segment

    segments = [Segment(1.0, 2.0, "a b", [Word("a", None, None), Word("b", None, None)]),
                Segment(3.0, 9.0, "c", [Word("c", 0.5, 1.0, 0.7)])]
    words = place_segments(segments, duration=5.0)
    assert [(w.word, w.start, w.end) for w in words] == [
        ("a", 1.0, 1.5), ("b", 1.5, 2.0), ("c", 3.5, 4.0)]
