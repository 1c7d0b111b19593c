"""The WhisperX engine on tiny checkpoints: whisperx's own align, faster-whisper's own ASR.

The aligner leaves a word it cannot place untimed (None); the flow's `place_words` gives it a
time. "Every word timed" is checked on the aligner's words placed that way, as a job does."""

from __future__ import annotations

import pytest
from f5_runtime.config import Settings
from f5_runtime.engines.align import Aligner, _units, load_aligner
from f5_runtime.engines.types import Audio, Transcript, Word
from f5_runtime.errors import ModelMissingError, ValidationError
from f5_runtime.flow.assemble import place_segments, place_words
from f5_runtime.io.audio import decode


@pytest.fixture(scope="module")
def settings_env(tmp_path_factory, tiny_wav2vec2_dir, tiny_whisper_dir, punkt_nltk_dir
                 ) -> dict[str, str]:
    return {
        "F5_VOLUME": str(tmp_path_factory.mktemp("volume")),
        "NLTK_DATA": str(punkt_nltk_dir),
        "F5_ALIGN_MODELS": f"en={tiny_wav2vec2_dir}",
        "F5_ASR_MODEL": str(tiny_whisper_dir),
    }


@pytest.fixture(scope="module")
def settings(settings_env) -> Settings:
    return Settings.from_env(settings_env)


@pytest.fixture(scope="module")
def aligner(settings) -> Aligner:
    aligner = load_aligner(settings, "cpu")
    aligner.warm(["en"])
    return aligner


@pytest.fixture(scope="module")
def speech(reference_clip) -> Audio:
    path, _ = reference_clip
    return decode(path.read_bytes())  # 24 kHz: the aligner resamples


def aligned_words(words: list[Word], text: str) -> None:
    """What the aligner returns: every written word, as written; times None or plain floats."""
    assert [w.word for w in words] == text.split()
    for w in words:
        assert (w.start is None) == (w.end is None), w
        for value in (w.start, w.end, w.score):
            assert value is None or type(value) is float, w


def assert_timed(words: list[Word], text: str, duration: float) -> None:
    aligned_words(words, text)
    words = place_words(words, 0.0, duration)
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
    timed = [w for w in words if w.start is not None]
    assert timed[-1].end > timed[0].start  # spread over the clip, not all at one instant
    assert any(w.score > 0 for w in timed)  # aligned by the model, not interpolated


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
    assert words[3].start is None and words[3].end is None  # left to the assembler
    placed = place_words(words, 0.0, speech.duration)
    hashes = placed[3]
    assert hashes.score == 0.0  # interpolated, not aligned
    assert placed[2].end <= hashes.start <= hashes.end <= placed[4].start


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
    words = place_segments(transcript.segments, speech.duration)
    assert " ".join(w.word for w in words) == transcript.text
    assert_timed(words, transcript.text, speech.duration)
    for segment in transcript.segments:
        aligned_words(segment.words, segment.text)  # times relative to the segment
    assert aligner.asr_loaded  # F5_ASR_KEEP_LOADED defaults to on
    aligner.unload_asr()
    assert not aligner.asr_loaded
    again = aligner.transcribe(speech, None)  # loads again, detects a language
    assert isinstance(again.language, str) and again.language
    assert [w.word for s in again.segments for w in s.words] == again.text.split()
    aligner.unload_asr()


def test_whisper_is_freed_after_use_when_not_kept(settings_env, speech):
    assert Settings.from_env({}).asr_keep_loaded is True  # the default (README: why)
    keep_not = Settings.from_env({**settings_env, "F5_ASR_KEEP_LOADED": "0"})
    assert not keep_not.asr_keep_loaded
    aligner = load_aligner(keep_not, "cpu")
    transcript = aligner.transcribe(speech, "en")
    assert transcript.text and not aligner.asr_loaded  # freed once the text is known
    assert aligner.transcribe(speech, "en").text == transcript.text  # and loaded again


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
    import f5_runtime.engines.align_models
    import numpy as np

    monkeypatch.setattr(f5_runtime.engines.align_models, "WINDOW_SAMPLES", 2 * 16_000)
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
        ("5€", "de", "fünf Euro"),  # symbols are named in en, de and fr
        ("42", "xx", "42"),  # a language num2words lacks: left for the wildcard/interpolation
    ],
)
def test_spoken_forms(written, language, spoken):
    from f5_runtime.engines.numbers import spoken_words

    assert spoken_words(written, language) == spoken.split()
