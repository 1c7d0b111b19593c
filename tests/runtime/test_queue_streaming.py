"""Streaming on a RunPod queue endpoint, through the RunPod SDK's production job loop (driven by
a loopback stand-in for RunPod's job API): with F5_QUEUE_STREAMING=1 a job with
`"stream": true` posts its chunk events to the job's stream one by one, each well under
RunPod's 1 MB, then its result; on the default deployment nothing is streamed and every
job's output is the plain result object, as before streaming existed."""

from __future__ import annotations

import base64
import signal

import pytest
from f5_runtime.api.stream import MAX_EVENT_SECONDS
from f5_runtime.config import Settings
from f5_runtime.io.storage import Storage
from f5_runtime.serving.queue_stream import MAX_RESULT_EVENT_BYTES
from f5_runtime.serving.worker import Handler

from runtime.conftest import wav_bytes
from runtime.engine_double import ToneEngines
from runtime.test_sigterm import start_worker, wait_exit
from runtime.test_worker import worker_env

RATE = 24_000
VOICE = "data:audio/wav;base64," + base64.b64encode(wav_bytes(1.0)).decode()
# a 12 s first sentence (split into two events of at most 8 s), then four short ones
TEXT = "word " * 40 + ". One two three. Four five six. Seven eight nine. Ten eleven twelve."
SEEDED = {"voice_reference_url": VOICE, "options": {"seed": 7}}
STREAMED = {"text": TEXT, **SEEDED, "stream": True}
PLAIN = {"text": "One two three. Four five six.", **SEEDED}
RUNPOD_CHUNK_LIMIT = 1_000_000  # bytes per streamed yield


def run_jobs(runpod_loop, tmp_path, env: dict[str, str], jobs: dict[str, dict]) -> dict:
    """The results the worker posts for `jobs`, run in order by one worker, which is then
    stopped (SIGTERM: it exits 0 between jobs)."""
    process, log_path = start_worker({**worker_env(tmp_path / "jobs"), **runpod_loop.env(),
                                      **env}, tmp_path)
    try:
        for job_id, job_input in jobs.items():
            runpod_loop.add_job(job_id, job_input)
        results = {job_id: runpod_loop.wait_result(job_id, timeout=180) for job_id in jobs}
        process.send_signal(signal.SIGTERM)
        assert wait_exit(process, log_path, 60) == 0, log_path.read_text()
    finally:
        if process.poll() is None:
            process.kill()
    assert all(results.values()), log_path.read_text()
    return results


def test_a_streaming_queue_worker_streams_the_jobs_that_ask(runpod_loop, tmp_path) -> None:
    results = run_jobs(runpod_loop, tmp_path, {"F5_QUEUE_STREAMING": "1"},
                       {"streamed": STREAMED, "plain": PLAIN})
    streamed = [(size, body) for job_id, size, body in runpod_loop.streamed
                if job_id == "streamed"]
    assert streamed, results
    events = [body["output"] for _, body in streamed]
    chunks, final = events[:-1], events[-1]
    assert [e["event"] for e in events] == ["chunk"] * len(chunks) + ["result"]
    assert max(size for size, _ in streamed) <= MAX_RESULT_EVENT_BYTES < RUNPOD_CHUNK_LIMIT
    assert max(e["duration"] for e in chunks) <= MAX_EVENT_SECONDS
    assert [e["chunk"] for e in chunks[:2]] == [0, 0], "the 12 s sentence is two events"
    assert [e["chunk"] for e in chunks if e["chunk"] is not None] == [0, 0, 1, 2, 3, 4]
    # offsets: each event's audio starts where the previous one's ended
    starts = [round(e["start"] * RATE) for e in chunks]
    ends = [round((e["start"] + e["duration"]) * RATE) for e in chunks]
    assert starts[0] == 0
    assert all(abs(start - end) <= 1 for start, end in zip(starts[1:], ends, strict=False))
    pcm = b"".join(base64.b64decode(e["audio_base64"]) for e in chunks)
    assert len(pcm) // 2 == round(final["duration"] * RATE)
    words = [w["word"] for e in chunks for w in e["words"]]
    assert words == [w["word"] for w in final["word_timings"]] and len(words) == len(TEXT.split())
    # 16.5 s of inline WAV would make the result a yield of 1 MB: the chunks carried it
    assert final["kind"] == "synthesize" and "audio_base64" not in final
    assert "chunk events carry the same audio" in final["audio_base64_omitted"]
    # RunPod aggregates a generator's yields: /run and /runsync return them all, as a list
    assert results["streamed"]["output"] == events
    # a job that does not ask is not streamed; on such an endpoint its output is [result]
    assert [job_id for job_id, _, _ in runpod_loop.streamed].count("plain") == 1
    plain = results["plain"]["output"]
    assert len(plain) == 1 and plain[0]["kind"] == "synthesize" and "event" not in plain[0]
    assert plain[0]["audio_base64"], "a result small enough keeps its audio"


def unstreamed(job_input: dict, tmp_path) -> dict:
    """What the handler answers in this process for the job without `stream` (its timings
    aside): the output of the original design."""
    settings = Settings.from_env({"F5_TMP_DIR": str(tmp_path / "here")})
    output = Handler(ToneEngines(), Storage(settings), settings)(
        {"id": "here", "input": {k: v for k, v in job_input.items() if k != "stream"}})
    return without_timings(output)


def without_timings(output: dict) -> dict:
    return {k: v for k, v in output.items() if k not in ("processing_time", "timings")}


@pytest.mark.parametrize("job_input", [PLAIN, STREAMED], ids=["plain", "asks-to-stream"])
def test_the_default_queue_worker_answers_plain_results(job_input, runpod_loop,
                                                        tmp_path) -> None:
    result = run_jobs(runpod_loop, tmp_path, {}, {"job": job_input})["job"]
    assert runpod_loop.streamed == [], "nothing is streamed on the default deployment"
    assert "error" not in result, result
    output = result["output"]
    assert isinstance(output, dict) and output["kind"] == "synthesize"
    assert without_timings(output) == unstreamed(job_input, tmp_path)
    assert set(output["timings"]) >= {"generate", "vocode", "align"}
