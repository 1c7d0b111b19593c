"""Decoding and encoding audio, without torch and without a system ffmpeg.

wav/flac/ogg/mp3 decode through libsndfile (bundled with the soundfile wheel); anything else
(m4a, mp4, webm, ...) goes through the ffmpeg binary shipped by the imageio-ffmpeg wheel, so
the slim image needs no system ffmpeg.
"""

from __future__ import annotations

import io
import subprocess

import numpy as np
import soundfile as sf

from f5_runtime.engines.types import Audio
from f5_runtime.errors import InputError

FFMPEG_TIMEOUT = 120  # seconds
# output format -> libsndfile (container, subtype)
_SOUNDFILE_FORMATS = {
    "wav": ("WAV", "PCM_16"), "flac": ("FLAC", "PCM_16"), "ogg": ("OGG", "VORBIS"),
    "mp3": ("MP3", "MPEG_LAYER_III"),
}


def decode(data: bytes, *, what: str = "audio") -> Audio:
    """Bytes of any common audio format -> mono float32 Audio; InputError if it is not audio."""
    if not data:
        raise InputError(f"{what} is empty (0 bytes)")
    try:
        samples, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError):
        samples, rate = _decode_with_ffmpeg(data, what)
    if samples.ndim == 2:
        samples = samples.mean(axis=1)
    samples = np.ascontiguousarray(samples, dtype=np.float32)
    if samples.size == 0:
        raise InputError(f"{what} decodes to no samples: send a recording with sound in it")
    if not np.isfinite(samples).all():
        raise InputError(f"{what} contains invalid (NaN/inf) samples")
    return Audio(samples=samples, sample_rate=int(rate))


def _decode_with_ffmpeg(data: bytes, what: str) -> tuple[np.ndarray, int]:
    import imageio_ffmpeg

    rate = 48_000
    cmd = [
        imageio_ffmpeg.get_ffmpeg_exe(),
        *("-hide_banner", "-loglevel", "error", "-i", "pipe:0"),
        *("-f", "f32le", "-ac", "1", "-ar", str(rate), "pipe:1"),
    ]
    try:
        proc = subprocess.run(cmd, input=data, capture_output=True, timeout=FFMPEG_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise InputError(f"{what}: decoding took longer than {FFMPEG_TIMEOUT} s") from None
    if proc.returncode != 0 or not proc.stdout:
        detail = proc.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise InputError(
            f"{what} is not a readable audio file (wav, flac, ogg, mp3, m4a, ...): {detail[0]}"
        )
    return np.frombuffer(proc.stdout, dtype=np.float32).reshape(-1, 1), rate


def encode(audio: Audio, fmt: str = "wav") -> bytes:
    """Encode to wav (PCM 16), flac or ogg (vorbis) bytes; mp3 through libsndfile."""
    container, subtype = _SOUNDFILE_FORMATS[fmt]
    buf = io.BytesIO()
    samples = np.clip(audio.samples, -1.0, 1.0)
    sf.write(buf, samples, audio.sample_rate, subtype=subtype, format=container)
    return buf.getvalue()


CONTENT_TYPES = {"wav": "audio/wav", "flac": "audio/flac", "ogg": "audio/ogg", "mp3": "audio/mpeg"}
