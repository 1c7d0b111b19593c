"""api/: the seed's example, both job kinds, readable errors, limits, plain-JSON results."""

from __future__ import annotations

import json

import pytest
from f5_runtime.api.request import Limits, Options, parse_request
from f5_runtime.api.result import JobResult
from f5_runtime.config import Settings
from f5_runtime.engines.types import SynthesisOptions, VerifyOptions, Word
from f5_runtime.errors import ValidationError
from f5_runtime.io.outputs import PublishedFile
from f5_runtime.io.subtitles import SubtitleOptions

SEED = {
    "audio_url": "s3://bucket/input.wav",
    "voice_reference_url": "s3://bucket/reference.wav",
    "text": "Text to synthesize",
    "options": {"create_subtitles": True, "subtitle_format": "ass"},
}
ARCHITECTURE_EXAMPLE = {
    "text": "Text to synthesize",
    "voice_reference_url": "s3://bucket/reference.wav",
    "voice_reference_text": "optional transcript of the reference (ASR when absent)",
    "audio_url": "s3://bucket/input.wav",
    "language": "en",
    "options": {"create_subtitles": True, "subtitle_format": "ass", "nfe_steps": 32,
                "cfg_strength": 2.0, "sway_sampling_coef": -1.0, "speed": 1.0, "seed": 42,
                "output_format": "wav"},
    "output": {"bucket": "bucket", "prefix": "jobs/"},
}


def test_documented_examples_are_accepted_unchanged() -> None:
    seed = parse_request(SEED)
    assert (seed.kind, seed.is_dubbing, seed.options.subtitle_format) == ("synthesize", True,
                                                                          "ass")
    full = parse_request(ARCHITECTURE_EXAMPLE)
    assert full.output.prefix == "jobs/" and full.options.seed == 42
    subtitle = parse_request({"audio_url": "https://example.com/a.mp3?X-Amz-Signature=1"})
    assert (subtitle.kind, subtitle.text) == ("subtitle", None)


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"options": {"nfe_steps": 500}},
         "input.options.nfe_steps: must be between 4 and 64, got 500"),
        ({"options": {"speed": 0}}, "input.options.speed: must be between 0.5 and 2.0, got 0"),
        ({"options": {"karaoke": "yes"}},
         "input.options.karaoke: must be true or false, got 'yes'"),
        ({"options": {"subtitle_format": "docx"}}, "must be one of 'ass', 'srt' or 'vtt'"),
        ({"voice_refrence_url": "s3://b/k"}, "(did you mean 'voice_reference_url'?)"),
        ({"options": {"max_lines": 9, "nfe": 1}},
         "input.options.max_lines: must be between 1 and 3, got 9; "
         "input.options.nfe: is not a known field"),
        ({"text": ""}, "input.text: must not be empty"),
        ({"text": None}, "input.text: required to synthesize speech"),
        ({"language": "English"}, "input.language: must be an ISO 639-1 code"),
        ({"output": {"bucket": "x"}}, "input.output.bucket: must be an S3 bucket name"),
        ({"audio_url": "file:///etc/passwd"}, "local files are not accessible to the endpoint"),
        ({"audio_url": "http://example.com/a.wav"}, "plain http:// is not accepted"),
    ],
)
def test_errors_name_the_field_and_what_is_valid(patch, message) -> None:
    raw = {**SEED, **patch}
    with pytest.raises(ValidationError) as info:
        parse_request(raw)
    assert message in str(info.value)


def test_limits_and_local_files() -> None:
    limits = Limits(max_text_chars=10, max_audio_bytes=1, max_audio_seconds=1.0,
                    allow_http=True, allow_local_files=True)
    with pytest.raises(ValidationError, match="at most 10 characters, got 11"):
        parse_request({**SEED, "text": "x" * 11}, limits)
    local = parse_request({**SEED, "voice_reference_url": "./voice.wav",
                           "audio_url": "http://example.com/x.wav", "text": "short"}, limits)
    assert local.voice_reference_url == "./voice.wav"


def test_results_are_plain_json() -> None:
    result = JobResult(
        kind="synthesize", duration=1.23456, sample_rate=24_000, language="en", text="Hi",
        word_timings=[Word("Hi", 0.1, 0.4, 0.93)],
        audio=PublishedFile("s3://b/k.wav", "https://x/k.wav?sig"), audio_format="wav",
        subtitles=PublishedFile(inline="WEBVTT\n"), subtitle_format="vtt",
        processing_time=0.5, timings={"fetch": 0.1},
    ).to_json()
    assert json.loads(json.dumps(result, allow_nan=False)) == result
    assert result["audio_url"] == "s3://b/k.wav" and result["subtitles"] == "WEBVTT\n"
    assert result["word_timings"] == [{"word": "Hi", "start": 0.1, "end": 0.4, "score": 0.93}]
    assert result["duration"] == 1.235


def test_defaults_are_written_once() -> None:
    """The API's option defaults are the engines' and the subtitle renderer's; the limits'
    are the settings'."""
    request = parse_request(SEED)
    # normalisation is on by default for a language it knows (the seed's is English)
    assert request.synthesis_options(None) == SynthesisOptions(normalize="en")
    assert request.verify_options() == VerifyOptions()
    assert request.subtitle_options() == SubtitleOptions()
    assert Options().nfe_steps == SynthesisOptions.nfe_steps
    defaults = Settings.from_env({})
    assert Limits.default() == Limits.from_settings(defaults)
    assert Limits.default().max_text_chars == defaults.max_text_chars


@pytest.mark.parametrize(
    ("url", "normalised"),
    [
        ("HTTPS://example.com/voice.wav?sig=1", "https://example.com/voice.wav?sig=1"),
        ("Https://example.com/v.wav", "https://example.com/v.wav"),
        ("S3://bucket/Key.wav", "s3://bucket/Key.wav"),
        ("DATA:AUDIO/WAV;BASE64,UklGRg==", "data:AUDIO/WAV;BASE64,UklGRg=="),
    ],
)
def test_url_schemes_are_case_insensitive(url, normalised) -> None:
    request = parse_request({"text": "hi", "voice_reference_url": url}, Limits.default())
    assert request.voice_reference_url == normalised
    with pytest.raises(ValidationError, match="plain http:// is not accepted"):
        parse_request({"text": "hi", "voice_reference_url": "HTTP://example.com/v.wav"},
                      Limits.default())
