"""`load_engines`: the real composition (F5-TTS + WhisperX) on the fixture files, and dummy."""

from __future__ import annotations

import argparse
import json

import numpy as np
from f5_runtime import bench
from f5_runtime.audio import decode
from f5_runtime.config import Settings
from f5_runtime.engines import (
    SYNTHESIS_STAGES,
    Audio,
    SynthesisOptions,
    Transcript,
    load_engines,
)
from f5_runtime.voice import VoiceEngines, chunk_words
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


def test_load_engines_synthesizes_aligns_and_transcribes(voice_engines, reference_clip):
    assert isinstance(voice_engines, VoiceEngines)
    stages: list[str] = []
    ref_bytes = reference_clip[0].read_bytes()
    speech = voice_engines.synthesize(TEXT, ref_bytes, REF_TEXT, "en", OPTIONS, stages.append)
    assert stages == list(SYNTHESIS_STAGES), "the stages the test engine also reports"
    assert speech.audio.sample_rate == 24_000 and speech.audio.duration > 10
    assert speech.reference_text == REF_TEXT
    assert_every_word_timed(speech.words, TEXT, speech.audio.duration)
    assert {"reference", "synthesize", "align", "synthesize.generate"} <= set(speech.timings)

    # The decoded reference (what the pipeline holds) gives the same speech.
    again = voice_engines.synthesize(TEXT, decode(ref_bytes), REF_TEXT, "en", OPTIONS)
    assert np.array_equal(again.audio.samples, speech.audio.samples)

    words = voice_engines.align(speech.audio, "my poor dear friend", "en")
    assert_every_word_timed(words, "my poor dear friend", speech.audio.duration)
    clip = decode(ref_bytes)
    clip = Audio(clip.samples[: 2 * clip.sample_rate], clip.sample_rate)  # tiny random Whisper
    transcript = voice_engines.transcribe(clip, "en")
    assert isinstance(transcript, Transcript) and transcript.text


def test_each_chunk_is_aligned_on_its_own_audio_at_its_offset(voice_engines, reference_clip):
    ref, _ = voice_engines.references(reference_clip[0].read_bytes(), REF_TEXT, "en")
    synthesis = voice_engines.tts.synthesize(TEXT, ref, OPTIONS)
    assert len(synthesis.chunks) > 1
    words = chunk_words(synthesis, voice_engines.aligner, "en")
    assert_every_word_timed(words, TEXT, synthesis.audio.duration)
    offsets = [c.offset for c in synthesis.chunks]
    assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets)
    i = 0
    for chunk in synthesis.chunks:  # each chunk's words lie inside that chunk's span
        n = len(chunk.plan.text.split())
        end = chunk.offset + len(chunk.samples) / 24_000
        for w in words[i : i + n]:
            assert chunk.offset - 1e-6 <= w.end and w.start <= end + 1e-6, (w, chunk.offset, end)
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
    speech = engines.synthesize("Hello world, 2 times.", reference, None, "en", OPTIONS)
    assert_every_word_timed(speech.words, "Hello world, 2 times.", speech.audio.duration)
    assert speech.reference_text  # transcribed by the tiny dummy Whisper
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
        assert {"reference", "synthesize", "align"} <= set(case["stages_s"])
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
