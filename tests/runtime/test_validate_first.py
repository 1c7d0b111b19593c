"""What can be known before the GPU works is checked before it works: languages this endpoint
does not serve and an output bucket that cannot be written fail the job in `validate`, with the
engines never called (moto S3 on loopback, the fault proxy for a denied write). And the voice
reference is prepared in its own language (`voice_reference_language`)."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from f5_runtime.api.request import Limits, parse_request
from f5_runtime.config import Settings
from f5_runtime.engines.f5 import TTS_SAMPLE_RATE as SAMPLE_RATE
from f5_runtime.engines.reference import prepare_reference
from f5_runtime.engines.types import Audio, Segment, Transcript, Word
from f5_runtime.errors import UserError, ValidationError
from f5_runtime.flow.job import run_job
from f5_runtime.io.s3 import WRITE_CHECK
from f5_runtime.io.storage import Storage

from runtime.conftest import wav_bytes
from runtime.engine_double import ToneEngines

VOICE = "data:audio/wav;base64," + base64.b64encode(wav_bytes(1.0)).decode()


def run(raw, env, engines, stages=None):
    settings = Settings.from_env(env)
    return run_job(raw, "job-v", engines=engines, storage=Storage(settings), settings=settings,
                   on_stage=None if stages is None else lambda s: stages.append(s.name))


def synth(**extra):
    return {"text": "Hello there", "voice_reference_url": VOICE, **extra}


def test_a_missing_output_bucket_fails_before_the_engines(s3, settings_env) -> None:
    engines, stages = ToneEngines(), []
    with pytest.raises(UserError, match="the bucket does not exist"):
        run(synth(output={"bucket": "no-such-bucket"}), settings_env, engines, stages)
    assert engines.calls == [] and stages == ["validate"]


def test_a_bucket_that_denies_writes_fails_before_the_engines(s3, bucket, settings_env,
                                                              faults) -> None:
    env = {**settings_env, "BUCKET_ENDPOINT_URL": faults.endpoint}
    faults.deny_buckets.add(bucket)
    engines = ToneEngines()
    with pytest.raises(UserError, match=r"access denied \(AccessDenied\).*cannot write to"):
        run(synth(output={"bucket": bucket}), env, engines)
    assert engines.calls == []
    faults.deny_buckets.clear()
    result = run(synth(output={"bucket": bucket, "prefix": "out/"}), env, engines)
    assert result.audio.s3_url == f"s3://{bucket}/out/job-v/speech.wav"
    assert WRITE_CHECK not in " ".join(s3.keys(bucket)), "the write check leaves nothing"
    checks = [(m, p) for m, p in faults.requests if p.endswith(f"/out/job-v/{WRITE_CHECK}")]
    assert [m for m, _ in checks] == ["PUT", "DELETE"]


def test_languages_the_endpoint_does_not_serve_fail_before_the_engines(settings_env) -> None:
    engines = ToneEngines()
    with pytest.raises(ValidationError, match=r"input\.language: .de. is not served .*F5_LANG"):
        run(synth(language="de"), settings_env, engines)
    with pytest.raises(ValidationError, match=r"input\.voice_reference_language: 'fr'"):
        run(synth(voice_reference_language="fr"), settings_env, engines)
    assert engines.calls == []
    served = {**settings_env, "F5_LANGUAGES": "en,de"}
    run(synth(language="de"), served, engines)
    run(synth(voice_reference_language="de"), served, engines)
    # the text is aligned in its language; the reference is prepared in its own (None: Whisper
    # detects it, as no transcript came with it)
    assert engines.align_languages == ["de", "en"] and engines.reference_languages == [None, "de"]
    transcribed = run({"audio_url": VOICE, "language": "fr"}, settings_env, engines)
    assert transcribed.language == "fr", "a transcription's language is only Whisper's hint"


class RecordingAligner:
    """The ReferenceAligner seam: records the language each call gets."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str | None]] = []

    def transcribe(self, audio: Audio, language: str | None) -> Transcript:
        self.calls.append(("transcribe", language))
        text = "Guten Tag zusammen."
        return Transcript(text, language or "de", [Segment(0.0, audio.duration, text, [])])

    def align(self, audio: Audio, text: str, language: str) -> list[Word]:
        self.calls.append(("align", language))
        words = text.split()
        step = audio.duration / len(words)
        return [Word(w, i * step, (i + 0.8) * step) for i, w in enumerate(words)]


def bursts(seconds: float) -> Audio:
    """Tone bursts with pauses between them: long enough to be clipped at a pause."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    on = (t % 0.9) < 0.5
    return Audio((0.3 * np.sin(2 * np.pi * 220 * t) * on).astype(np.float32), SAMPLE_RATE)


def test_the_reference_is_transcribed_and_aligned_in_its_own_language() -> None:
    aligner = RecordingAligner()
    prepare_reference(bursts(5.0), None, "de", aligner)
    prepare_reference(bursts(5.0), None, None, aligner)  # no language: Whisper detects it
    clipped = prepare_reference(bursts(16.0), " ".join(["Wort"] * 30), "de", aligner)
    assert clipped.clipped
    assert aligner.calls == [("transcribe", "de"), ("transcribe", None), ("align", "de")]


def test_voice_reference_language_needs_a_reference() -> None:
    with pytest.raises(ValidationError, match="voice_reference_language: only valid with"):
        parse_request({"audio_url": VOICE, "voice_reference_language": "de"}, Limits.default())
    with pytest.raises(ValidationError, match="ISO 639-1"):
        parse_request(synth(voice_reference_language="German"), Limits.default())
