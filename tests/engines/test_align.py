"""The WhisperX engine on tiny checkpoints: whisperx's own align, faster-whisper's own ASR."""

from __future__ import annotations

import pytest
from f5_runtime.align import Aligner, _fill_and_order, _units, load_aligner
from f5_runtime.audio import decode
from f5_runtime.config import Settings
from f5_runtime.engines import Audio, Transcript, Word
from f5_runtime.errors import ModelMissingError, ValidationError


@pytest.fixture(scope="module")
def settings(tmp_path_factory, tiny_wav2vec2_dir, tiny_whisper_dir, punkt_nltk_dir) -> Settings:
    volume = tmp_path_factory.mktemp("volume")
    return Settings.from_env(
        {
            "F5_VOLUME": str(volume),
            "NLTK_DATA": str(punkt_nltk_dir),
            "F5_ALIGN_MODELS": f"en={tiny_wav2vec2_dir}",
            "F5_ASR_MODEL": str(tiny_whisper_dir),
        }
    )


@pytest.fixture(scope="module")
def aligner(settings) -> Aligner:
    aligner = load_aligner(settings, "cpu")
    aligner.warm(["en"])
    return aligner


@pytest.fixture(scope="module")
def speech(reference_clip) -> Audio:
    path, _ = reference_clip
    return decode(path.read_bytes())  # 24 kHz: the aligner resamples


def assert_timed(words: list[Word], text: str, duration: float) -> None:
    assert [w.word for w in words] == text.split()
    previous_end = 0.0
    for w in words:
        for value in (w.start, w.end, w.score):
            assert type(value) is float, w  # plain floats, not numpy: JSON-ready
        assert previous_end <= w.start <= w.end <= duration + 1e-6, w
        previous_end = w.end


def test_every_word_of_real_speech_gets_a_time(aligner, speech, reference_clip):
    _, text = reference_clip
    words = aligner.align(speech, text, "en")
    assert_timed(words, text, speech.duration)
    assert words[-1].end > words[0].start  # spread over the clip, not all at one instant
    assert any(w.score > 0 for w in words)  # aligned by the model, not interpolated


def test_numbers_and_symbols_come_back_as_written(aligner, speech):
    text = "In 2014 I paid $5. That's 50% of 3.5 million!"
    words = aligner.align(speech, text, "en")
    assert_timed(words, text, speech.duration)
    assert [w.word for w in words][1] == "2014"


def test_numbers_are_spelled_out_for_the_aligner():
    dictionary = {c: i for i, c in enumerate("|abcdefghijklmnopqrstuvwxyz'")}
    units = _units(["In", "2014", "paid", "$5."], "en", dictionary)
    assert [(u.text, u.owner) for u in units] == [
        ("in", 0),
        ("twenty", 1),
        ("fourteen", 1),
        ("paid", 2),
        ("five", 3),
        ("dollars", 3),
    ]


def test_a_word_the_model_cannot_read_is_interpolated(aligner, speech):
    text = "Some call me ### nature"  # "###" has no character the aligner knows
    words = aligner.align(speech, text, "en")
    assert_timed(words, text, speech.duration)
    hashes = words[3]
    assert hashes.score == 0.0  # interpolated, not aligned
    assert words[2].end <= hashes.start <= hashes.end <= words[4].start


def test_interpolation_shares_the_gap_by_length():
    spans = [[(0.5, 1.0, 0.9)], [], [], [(3.0, 3.5, 0.8)]]
    words = _fill_and_order(["one", "x", "xxx", "four"], spans, duration=4.0)
    assert [(w.start, w.end) for w in words] == [(0.5, 1.0), (1.0, 1.5), (1.5, 3.0), (3.0, 3.5)]
    assert [w.score for w in words] == [0.9, 0.0, 0.0, 0.8]


def test_more_text_than_the_audio_can_hold_is_still_timed(aligner):
    short = Audio(samples=decode_silence(0.3), sample_rate=16_000)
    text = "this sentence is far too long for a third of a second of audio to hold it all"
    words = aligner.align(short, text, "en")
    assert_timed(words, text, short.duration)


def decode_silence(seconds: float):
    import numpy as np

    return np.zeros(int(seconds * 16_000), dtype=np.float32)


def test_empty_text_gives_no_words(aligner, speech):
    assert aligner.align(speech, "  \n ", "en") == []


def test_a_language_without_an_aligner_is_a_user_error(aligner, speech):
    with pytest.raises(ValidationError, match="F5_ALIGN_MODELS=xx="):
        aligner.align(speech, "hello", "xx")


def test_an_aligner_not_on_the_volume_names_the_model_and_the_command(aligner, speech):
    with pytest.raises(ModelMissingError, match=r"align:de .*f5-runtime fetch-models"):
        aligner.align(speech, "hallo", "de")  # WhisperX's German default: not fetched here


def test_transcribe_runs_faster_whisper_and_unloads(aligner, speech):
    transcript = aligner.transcribe(speech, "en")
    assert isinstance(transcript, Transcript)
    assert transcript.language == "en"
    assert transcript.text  # random weights: pseudo-words, but decoded by the real path
    assert_timed(transcript.words, transcript.text, speech.duration)
    assert aligner.asr_loaded
    aligner.unload_asr()
    assert not aligner.asr_loaded
    again = aligner.transcribe(speech, None)  # loads again, detects a language
    assert isinstance(again.language, str) and again.language
    assert [w.word for w in again.words] == again.text.split()
    aligner.unload_asr()


def test_dummy_aligner_and_asr_need_no_files(tmp_path, speech, reference_clip):
    settings = Settings.from_env({"F5_VOLUME": str(tmp_path), "F5_LOAD_FORMAT": "dummy"})
    aligner = load_aligner(settings, "cpu")
    _, text = reference_clip
    assert_timed(aligner.align(speech, text, "en"), text, speech.duration)
    assert_timed(aligner.align(speech, "Hallo 2014", "de"), "Hallo 2014", speech.duration)
    transcript = aligner.transcribe(speech, "en")
    assert transcript.text and transcript.language == "en"
    assert not any(tmp_path.iterdir())  # nothing written to the volume


def test_long_recordings_are_run_through_the_model_window_by_window(
    aligner, speech, reference_clip, monkeypatch
):
    import f5_runtime.align
    import numpy as np

    monkeypatch.setattr(f5_runtime.align, "WINDOW_SAMPLES", 2 * 16_000)
    inputs: list[int] = []
    frames: list[int] = []
    windowed = aligner._align_model("en")[0]
    hooks = [
        windowed.inner.register_forward_hook(lambda m, a, out: inputs.append(a[0].shape[-1])),
        windowed.register_forward_hook(lambda m, a, out: frames.append(out.logits.shape[1])),
    ]
    try:
        long = Audio(np.tile(speech.samples, 3), speech.sample_rate)  # 16 s
        text = " ".join([reference_clip[1]] * 3)
        words = aligner.align(long, text, "en")
    finally:
        for hook in hooks:
            hook.remove()
    assert_timed(words, text, long.duration)
    assert len(inputs) == 8 and max(inputs) == 2 * 16_000  # 16 s in 2 s windows
    assert frames[0] >= 0.98 * long.duration * 50  # emissions (50 per s) for all of it


@pytest.mark.parametrize(
    ("written", "language", "spoken"),
    [
        ("2014,", "en", "twenty fourteen"),
        ("1990s", "en", "nineteen nineties"),
        ("$5.", "en", "five dollars"),
        ("$5.50", "en", "five dollars fifty cents"),
        ("3.5", "en", "three point five"),
        ("1,000", "en", "one thousand"),
        ("50%", "en", "fifty percent"),
        ("21st", "en", "twenty first"),
        ("10:05", "en", "ten oh five"),
        ("2010-2014", "en", "twenty ten twenty fourteen"),
        ("mp3", "en", "mp three"),
        ("&", "en", "and"),
        ("nature,", "en", "nature,"),  # no digit, no symbol: as written
        ("3,5", "de", "drei Komma fünf"),
        ("5€", "de", "fünf"),  # symbol names are English only; the number is still spoken
        ("42", "xx", "42"),  # a language num2words lacks: left for the wildcard/interpolation
    ],
)
def test_spoken_forms(written, language, spoken):
    from f5_runtime.numbers import spoken_words

    assert spoken_words(written, language) == spoken.split()
