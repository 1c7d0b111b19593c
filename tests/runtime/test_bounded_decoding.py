"""Hostile audio: tiny files that declare or decode to hours are refused before they are
decoded past the duration limit, and the worker's memory stays low (tracemalloc peak of the
Python allocations, numpy's included; ffmpeg's output arrives as Python bytes too)."""

from __future__ import annotations

import base64
import io
import subprocess
import tracemalloc
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from f5_runtime.api.request import Limits
from f5_runtime.config import Settings
from f5_runtime.errors import InputError
from f5_runtime.flow import job as pipeline
from f5_runtime.io import audio as audio_io
from f5_runtime.io.inputs import Inputs
from f5_runtime.io.storage import Storage

HOUR = 3600  # seconds
RATE = 8_000  # Hz
LIMIT_SECONDS = 30  # the endpoint's F5_MAX_AUDIO_SECONDS in these tests
# bytes: an hour is 115 MB of float32 at 8 kHz (690 MB from ffmpeg at 48 kHz); ffmpeg stopped
# one second past the 30 s limit hands back 6 MB, held twice while its output is joined.
LOW_PEAK = 16 * 2**20


def flac_of_silence(seconds: int) -> bytes:
    buf = io.BytesIO()
    with sf.SoundFile(buf, "w", RATE, 1, "PCM_16", format="FLAC") as f:
        minute = np.zeros(RATE * 60, dtype=np.int16)
        for _ in range(seconds // 60):
            f.write(minute)
    return buf.getvalue()


def without_length(flac: bytes) -> bytes:
    """The same FLAC with STREAMINFO's total-samples field zeroed: 'length unknown', as a
    streaming encoder writes it (36 bits at byte 18, after the rate/channels/bits fields)."""
    data = bytearray(flac)
    field = int.from_bytes(data[18:26], "big") & ~((1 << 36) - 1)
    data[18:26] = field.to_bytes(8, "big")
    return bytes(data)


def adts_of_silence(seconds: int) -> bytes:
    """Raw AAC (ADTS): no length anywhere, libsndfile cannot read it, so ffmpeg decodes it."""
    import imageio_ffmpeg

    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", "lavfi",
           "-i", f"anullsrc=r={RATE}:cl=mono", "-t", str(seconds), "-c:a", "aac", "-b:a", "8k",
           "-f", "adts", "pipe:1"]
    return subprocess.run(cmd, capture_output=True, check=True).stdout


@pytest.fixture(scope="module")
def hour_flac() -> bytes:
    return flac_of_silence(HOUR)


@pytest.fixture
def storage(settings_env) -> Inputs:
    return Storage(Settings.from_env(settings_env)).inputs


def data_uri(data: bytes, subtype: str = "flac") -> str:
    return f"data:audio/{subtype};base64," + base64.b64encode(data).decode()


def peak_while(action) -> tuple[BaseException | object, int]:
    """(what `action` returned or raised, peak bytes of Python allocations meanwhile)."""
    tracemalloc.start()
    try:
        try:
            outcome: BaseException | object = action()
        except Exception as exc:
            outcome = exc
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return outcome, peak


def limits(max_audio_seconds: float) -> Limits:
    return replace(Limits.default(), max_audio_seconds=max_audio_seconds)


LIMITS = limits(LIMIT_SECONDS)


@pytest.mark.parametrize("shape", ["declared", "no length in the header", "ffmpeg (ADTS)"])
def test_an_hour_in_a_tiny_file_is_refused_without_decoding_it(shape, hour_flac, storage,
                                                              tmp_path) -> None:
    data = {"declared": lambda: hour_flac,
            "no length in the header": lambda: without_length(hour_flac),
            "ffmpeg (ADTS)": lambda: adts_of_silence(HOUR)}[shape]()
    assert len(data) < 400_000, "a small file"
    outcome, peak = peak_while(lambda: pipeline.load_input(
        storage, data_uri(data), tmp_path, "voice reference", LIMITS))
    assert isinstance(outcome, InputError), outcome
    assert "more than the 30 s limit" in str(outcome) and "F5_MAX_AUDIO_SECONDS" in str(outcome)
    if shape == "declared":
        assert "is 3600 s long" in str(outcome), "the header's length, read before decoding"
    assert peak < LOW_PEAK, f"peak {peak / 2**20:.1f} MiB"


def test_the_dubbing_source_is_only_measured(storage, tmp_path) -> None:
    minute = flac_of_silence(60)
    outcome, peak = peak_while(lambda: pipeline.input_duration(
        storage, data_uri(minute), tmp_path, "source audio", limits(120)))
    assert outcome == pytest.approx(60.0)
    assert peak < 2**20, f"the source's samples are not kept: peak {peak / 2**20:.2f} MiB"
    aac = adts_of_silence(60)
    seconds, peak = peak_while(lambda: pipeline.input_duration(
        storage, data_uri(aac, "aac"), tmp_path, "source audio", limits(120)))
    assert seconds == pytest.approx(60.0, abs=0.2)
    assert peak < 2**20, f"counted at a low rate: peak {peak / 2**20:.2f} MiB"
    long_source, _ = peak_while(lambda: pipeline.input_duration(
        storage, data_uri(minute), tmp_path, "source audio", LIMITS))
    assert isinstance(long_source, InputError) and "is 60 s long" in str(long_source)


def test_recordings_within_the_limit_decode_as_before() -> None:
    t = np.arange(2 * RATE) / RATE
    stereo = np.stack([np.sin(2 * np.pi * 440 * t), np.zeros_like(t)], axis=1) * 0.5
    buf = io.BytesIO()
    sf.write(buf, stereo, RATE, format="WAV", subtype="FLOAT")
    decoded = audio_io.decode(buf.getvalue(), max_seconds=LIMIT_SECONDS)
    assert decoded.sample_rate == RATE and decoded.duration == pytest.approx(2.0)
    np.testing.assert_allclose(decoded.samples, stereo.mean(axis=1), atol=1e-6)
    assert audio_io.duration(buf.getvalue()) == pytest.approx(2.0)


def test_ffmpeg_reads_only_its_pipe(monkeypatch) -> None:
    """Seen at the subprocess seam (the real ffmpeg still runs): no protocol but the pipe, so a
    playlist or concat file inside an upload cannot open local files or URLs."""
    commands: list[list[str]] = []
    run = subprocess.run

    def recording_run(cmd, *args, **kwargs):
        commands.append(list(cmd))
        return run(cmd, *args, **kwargs)

    monkeypatch.setattr(subprocess, "run", recording_run)
    decoded = audio_io.decode(adts_of_silence(2), max_seconds=LIMIT_SECONDS)
    assert decoded.duration == pytest.approx(2.0, abs=0.25)  # AAC priming
    (cmd,) = [c for c in commands if "pipe:0" in c]
    assert cmd[cmd.index("-protocol_whitelist") + 1] == "pipe"
    assert cmd.index("-protocol_whitelist") < cmd.index("-i")
    playlist = b"#EXTM3U\n#EXTINF:1.0,\nfile:///etc/hostname\n#EXT-X-ENDLIST\n"
    with pytest.raises(InputError, match="not a readable audio file"):
        audio_io.decode(playlist)


def test_absurd_sample_rates_are_refused(tmp_path: Path) -> None:
    buf = io.BytesIO()
    sf.write(buf, np.zeros(100, dtype=np.float32), 8_000, format="WAV")
    data = bytearray(buf.getvalue())
    data[24:28] = (2_000_000_000).to_bytes(4, "little")  # the WAV fmt chunk's sample rate
    with pytest.raises(InputError, match="sample rate of 2000000000 Hz"):
        audio_io.decode(bytes(data), max_seconds=LIMIT_SECONDS)
