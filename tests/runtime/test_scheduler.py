"""The engine scheduler (flow/scheduler.py) on the tone engine: batches across jobs under the
frame budget, first chunks of streaming jobs first, per-job order, cancelled jobs' chunks
dropped, out-of-memory splits, a failing job alone failing. The same through the real tiny
F5-TTS engine is in tests/engines/test_batching.py; through the RunPod worker in
test_concurrent_jobs.py."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from f5_runtime.engines.reference import PreparedReference
from f5_runtime.engines.types import ChunkPlan, ChunkWork, SynthesisOptions
from f5_runtime.errors import EngineError, JobCancelled
from f5_runtime.flow.chunks import plan_speech, synthesize
from f5_runtime.flow.clock import StageClock
from f5_runtime.flow.scheduler import EngineScheduler

from runtime.engine_double import ToneEngines

OPTIONS = SynthesisOptions(nfe_steps=8)


def work(text: str, frames: int = 100, seed: int = 1, options=OPTIONS) -> ChunkWork:
    return ChunkWork(ChunkPlan(text, text, frames, frames), None, options, seed)  # type: ignore[arg-type]


class Gate:
    """Holds the device thread in its first sampler call until opened, so that the queue
    fills up behind it as it would under load."""

    def __init__(self, engines: ToneEngines) -> None:
        self.entered, self.opened = threading.Event(), threading.Event()
        real = engines.generate

        def generate(works):
            if not self.entered.is_set():
                self.entered.set()
                assert self.opened.wait(10)
            return real(works)

        engines.generate = generate  # type: ignore[method-assign]

    def hold(self, scheduler: EngineScheduler) -> None:
        scheduler.open_job().submit(0, work("hold"))
        assert self.entered.wait(10)


@pytest.fixture
def held():
    engines = ToneEngines()
    scheduler = EngineScheduler(engines, batch_frames=1000)
    gate = Gate(engines)
    gate.hold(scheduler)
    return engines, scheduler, gate


def test_chunks_of_several_jobs_share_a_batch_in_priority_order(held) -> None:
    engines, scheduler, gate = held
    a, b = scheduler.open_job(), scheduler.open_job()
    ta = a.submit_all([work("a0", seed=1), work("a1", 300, seed=1)])
    tb = b.submit_all([work("b0", 200, seed=2), work("b1", seed=2)])
    gate.opened.set()
    waves = [t.wave() for t in ta + tb]
    # budget 1000 frames: 4 x longest 300 > 1000, so 3 go together: a0, a1, b0 (oldest first)
    assert engines.generate_calls[1:] == [["a0", "a1", "b0"], ["b1"]]
    assert scheduler.counters.batch_sizes == [1, 3, 1]
    assert scheduler.counters.cross_job_batches == 1 and scheduler.counters.queue_depth == 0
    # each chunk got its own job's seed and length, batched or not
    alone = EngineScheduler(ToneEngines(), batch_frames=0)
    for ticket, wave in zip(ta + tb, waves, strict=True):
        assert np.array_equal(wave, alone.open_job().submit(0, ticket.work).wave())


def test_only_chunks_of_one_steps_guidance_and_sway_go_together(held) -> None:
    engines, scheduler, gate = held
    other = SynthesisOptions(nfe_steps=8, cfg_strength=1.5)
    tickets = [scheduler.open_job().submit(0, work("x")),
               scheduler.open_job().submit(0, work("y", options=other)),
               scheduler.open_job().submit(0, work("z"))]
    gate.opened.set()
    for t in tickets:
        t.wave()
    assert engines.generate_calls[1:] == [["x", "z"], ["y"]]


def test_a_jobs_chunks_keep_their_order_when_the_budget_cuts(held) -> None:
    engines, scheduler, gate = held
    job = scheduler.open_job()
    tickets = job.submit_all([work("c0", 400), work("c1", 700), work("c2", 100)])
    gate.opened.set()
    for t in tickets:
        t.wave()
    # c1 does not fit beside c0: c2 (which would) must not overtake it
    assert engines.generate_calls[1:] == [["c0"], ["c1"], ["c2"]]


def test_a_streaming_jobs_first_chunk_jumps_the_queue(held) -> None:
    engines, scheduler, gate = held
    scheduler.batch_frames = 0  # one chunk per call: the order is the queue's order
    batch = scheduler.open_job()
    tickets = batch.submit_all([work(f"batch{i}") for i in range(3)])
    stream = scheduler.open_job(streaming=True)
    tickets += stream.submit_all([work("stream0"), work("stream1")])
    gate.opened.set()
    for t in tickets:
        t.wave()
    assert engines.generate_calls[1:] == [["stream0"], ["batch0"], ["batch1"], ["batch2"],
                                          ["stream1"]]


def test_a_cancelled_jobs_chunks_are_dropped(held) -> None:
    engines, scheduler, gate = held
    gone, kept = scheduler.open_job(), scheduler.open_job()
    dropped = gone.submit_all([work("g0"), work("g1")])
    survivor = kept.submit(0, work("k0"))
    gone.cancel("the client went away")
    gate.opened.set()
    assert survivor.wave() is not None
    for ticket in dropped:
        with pytest.raises(JobCancelled, match="went away"):
            ticket.wave()
    assert engines.generate_calls[1:] == [["k0"]]
    assert scheduler.counters.chunks_dropped == 2
    with pytest.raises(JobCancelled):  # and nothing more is taken from it
        gone.submit(2, work("g2")).wave()


def test_out_of_memory_splits_the_batch_and_every_job_completes(held) -> None:
    engines, scheduler, gate = held
    engines.oom_above = 1
    tickets = [scheduler.open_job().submit(0, work(f"j{i}", seed=i)) for i in range(4)]
    gate.opened.set()
    assert all(t.wave() is not None for t in tickets)
    assert scheduler.counters.oom_splits == 3  # 4 -> 2 + 2 -> 1 + 1 + 1 + 1
    assert scheduler.counters.batch_sizes[1:] == [1, 1, 1, 1]
    assert scheduler.counters.chunks_failed == 0


def test_one_chunk_out_of_memory_fails_only_its_job_with_a_clear_error() -> None:
    engines = ToneEngines()
    engines.oom_above = 0
    scheduler = EngineScheduler(engines, batch_frames=1000)
    with pytest.raises(EngineError, match="out of GPU memory for one chunk"):
        scheduler.open_job().submit(0, work("big")).wave()


def test_a_failing_job_does_not_fail_the_others_in_its_batch(held) -> None:
    engines, scheduler, gate = held
    good = [scheduler.open_job().submit(0, work(f"good{i}")) for i in range(2)]
    bad = scheduler.open_job().submit(0, work("__fail__"))
    gate.opened.set()
    assert all(t.wave() is not None for t in good)
    with pytest.raises(RuntimeError, match="asked to fail"):
        bad.wave()
    assert engines.generate_calls[1] == ["good0", "good1", "__fail__"]  # tried together
    assert scheduler.counters.chunks_failed == 1


def test_a_job_through_the_scheduler_sounds_the_same_alone_or_among_others() -> None:
    text = "One two three. Four five six. Seven eight nine."
    engines = ToneEngines(batch_frames=10**9)
    reference = PreparedReference(np.zeros(2400, np.float32), "ref", 0.1, False, False)

    def speech(seed: int):
        options = SynthesisOptions(seed=seed)
        return synthesize(engines, plan_speech(engines, text, reference, "en", options),
                          StageClock())

    alone = [speech(seed) for seed in (1, 2, 3)]
    results: dict[int, object] = {}
    threads = [threading.Thread(target=lambda s=s: results.__setitem__(s, speech(s)))
               for s in (1, 2, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for seed, one in zip((1, 2, 3), alone, strict=True):
        assert np.array_equal(results[seed].audio.samples, one.audio.samples)  # type: ignore[attr-defined]
    assert not np.array_equal(alone[0].audio.samples, alone[1].audio.samples)
