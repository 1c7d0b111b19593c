"""`load_engines`: the real composition (F5-TTS + WhisperX) on the fixture files, and dummy,
driven step by step through the `Engines` protocol by the job flow."""

from __future__ import annotations

import argparse
import json

import numpy as np
from f5_runtime.config import Settings
from f5_runtime.engines import load_engines
from f5_runtime.engines.types import Audio, SynthesisOptions, Transcript
from f5_runtime.engines.voice import VoiceEngines
from f5_runtime.flow.assemble import place_segments, place_words
from f5_runtime.flow.chunks import plan_speech, speak, synthesize
from f5_runtime.flow.clock import StageClock
from f5_runtime.io.audio import decode
from f5_runtime.serving import bench
from fixtures.tiny_align import REFERENCE_TEXT as REF_TEXT

TEXT = (
    "In 2014 the Town Mouse came to visit, and they sat down to a dinner of barleycorns and "
    "roots. The fare was not much to the taste of the guest, and presently he broke out: "
    "my poor dear friend, you live here no better than the ants! Now, you should just see how "
    "I fare. My larder is a regular horn of plenty, with 3 kinds of cheese & 12 figs"
)
OPTIONS = SynthesisOptions(nfe_steps=4, seed=5)


def assert_every_word_timed(words, text: str, duration: float) -> None:
    assert [w.word for w in words] == text.split()
    previous_end = 0.0
    for w in words:
        assert type(w.start) is float and type(w.end) is float, w
        assert previous_end <= w.start <= w.end <= duration + 1e-6, w
        previous_end = w.end


def run(engines, reference: Audio, text: str, ref_text: str | None, clock=None):
    clock = clock or StageClock()
    clock.enter("reference")
    ref = engines.prepare_reference(reference, ref_text, "en")
    speech = synthesize(engines, plan_speech(engines, text, ref, "en", OPTIONS), clock)
    clock.stop()
    return ref, speech


def test_load_engines_synthesizes_aligns_and_transcribes(voice_engines, reference_clip):
    assert isinstance(voice_engines, VoiceEngines)
    assert voice_engines.batch_frames == 0  # CPU: one chunk per sampler call
    stages: list[str] = []
    clock = StageClock(lambda stage: stages.append(stage.name))
    reference = decode(reference_clip[0].read_bytes())
    ref, speech = run(voice_engines, reference, TEXT, REF_TEXT, clock)
    assert stages[:4] == ["reference", "generate", "vocode", "align"]
    assert set(stages) == {"reference", "generate", "vocode", "align", "assemble"}
    assert speech.audio.sample_rate == 24_000 and speech.audio.duration > 10
    assert ref.text == REF_TEXT
    assert_every_word_timed(speech.words, TEXT, speech.audio.duration)
    assert set(clock.timings) == {"reference", "generate", "vocode", "align", "assemble"}

    # The same request again (reference from the cache) gives the same speech.
    _, again = run(voice_engines, reference, TEXT, REF_TEXT)
    assert np.array_equal(again.audio.samples, speech.audio.samples)

    words = place_words(voice_engines.align(speech.audio, "my poor dear friend", "en"), 0.0,
                        speech.audio.duration)
    assert_every_word_timed(words, "my poor dear friend", speech.audio.duration)
    clip = Audio(reference.samples[: 2 * reference.sample_rate], reference.sample_rate)
    transcript = voice_engines.transcribe(clip, "en")  # tiny random Whisper
    assert isinstance(transcript, Transcript) and transcript.text
    assert_every_word_timed(place_segments(transcript.segments, clip.duration),
                            transcript.text, clip.duration)


def test_each_chunk_is_aligned_on_its_own_audio_and_placed_at_its_offset(voice_engines,
                                                                          reference_clip):
    ref = voice_engines.prepare_reference(decode(reference_clip[0].read_bytes()), REF_TEXT, "en")
    plan = plan_speech(voice_engines, TEXT, ref, "en", OPTIONS)
    chunks = list(speak(voice_engines, plan, StageClock()))
    assert len(chunks) > 1 and [c.index for c in chunks] == list(range(len(chunks)))
    offsets = [c.offset for c in chunks]
    assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets)
    speech = synthesize(voice_engines, plan, StageClock())
    assert_every_word_timed(speech.words, TEXT, speech.audio.duration)
    i = 0
    for chunk in chunks:  # each chunk's words lie inside that chunk's span
        assert [w.word for w in chunk.words] == chunk.text.split()
        n = len(chunk.text.split())
        end = chunk.offset + chunk.duration
        for w in speech.words[i : i + n]:
            assert chunk.offset - 1e-6 <= w.start <= w.end <= end + 1e-6, (w, chunk.offset, end)
        i += n


def test_dummy_tiny_engines_need_no_files(tmp_path, reference_clip):
    settings = Settings.from_env(
        {
            "F5_VOLUME": str(tmp_path),
            "F5_LOAD_FORMAT": "dummy",
            "F5_TTS_MODEL": "tiny",
            "F5_DEVICE": "cpu",
        }
    )
    engines = load_engines(settings)
    reference = decode(reference_clip[0].read_bytes())
    ref, speech = run(engines, reference, "Hello world, 2 times.", None)
    assert_every_word_timed(speech.words, "Hello world, 2 times.", speech.audio.duration)
    assert ref.text and ref.transcribed  # transcribed by the tiny dummy Whisper
    assert np.std(speech.audio.samples) > 0
    assert not settings.models_dir.exists()  # nothing was read or fetched
    assert list(settings.refs_dir.glob("*.npz"))  # the prepared reference is cached


def test_bench_falls_back_to_dummy_weights_and_reports_each_stage(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("F5_VOLUME", str(tmp_path))
    monkeypatch.setenv("F5_TTS_MODEL", "tiny")
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    args = parser.parse_args(["--device", "cpu", "--nfe", "2,4", "--texts", "short", "--json"])
    assert bench.main(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["load_format"] == "dummy" and result["device"] == "cpu"
    assert [(c["text"], c["nfe"]) for c in result["cases"]] == [("short", 2), ("short", 4)]
    for case in result["cases"]:
        assert case["rtf"] > 0 and case["audio_s"] > 0 and case["peak_memory_mb"] > 0
        assert {"reference", "generate", "vocode", "align", "assemble"} == set(case["stages_s"])
        assert case["chunks"] == case["sampler_calls"] == 1
    assert result["peak_memory"] == "RSS high-water"
    refs = tmp_path / "f5tts" / "refs"
    assert not refs.exists() or not any(refs.iterdir()), "bench leaves the volume's cache alone"


def test_bench_peak_memory_is_per_case_not_the_process_maximum():
    memory = bench.PeakMemory(cuda=False)
    memory.reset()
    big = np.ones(300 * 2**20, dtype=np.uint8)  # touched: 300 MiB resident
    first = memory.peak_mb()
    del big
    memory.reset()
    second = memory.peak_mb()
    assert first - second > 250, (first, second)
