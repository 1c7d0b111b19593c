"""Decoding and encoding audio, without torch and without a system ffmpeg.

wav/flac/ogg/mp3 decode through libsndfile (bundled with the soundfile wheel); anything else
(m4a, mp4, webm, ...) goes through the ffmpeg binary shipped by the imageio-ffmpeg wheel, so
the slim image needs no system ffmpeg.

Decoding is bounded by `max_seconds` (F5_MAX_AUDIO_SECONDS): a 90 KB FLAC of silence can
declare an hour, and a file at the size cap can hold days of audio. The header's length is
checked before anything is decoded; since a header can lie or carry no length (streamed
FLAC, ADTS, raw MP3), libsndfile is read block by block and stopped at the limit, and ffmpeg
is told to stop (`-t`) just past it. `duration` reads only the length (the dubbing source).
"""

from __future__ import annotations

import io
import subprocess

import numpy as np
import soundfile as sf

from f5_runtime.engines.types import Audio
from f5_runtime.errors import InputError

FFMPEG_TIMEOUT = 120  # seconds
FFMPEG_RATE = 48_000  # Hz: what ffmpeg decodes to (every later stage resamples from it)
DURATION_PROBE_RATE = 1_000  # Hz: enough to count the length of an ffmpeg-only format
MAX_SAMPLE_RATE = 384_000  # Hz; higher declared rates are refused (no real recording uses them)
BLOCK_SAMPLES = 1 << 20  # samples (all channels) read from libsndfile at a time
UNKNOWN_LENGTH = 1 << 62  # libsndfile reports SF_COUNT_MAX frames when the header has none
# output format -> libsndfile (container, subtype)
_SOUNDFILE_FORMATS = {
    "wav": ("WAV", "PCM_16"), "flac": ("FLAC", "PCM_16"), "ogg": ("OGG", "VORBIS"),
    "mp3": ("MP3", "MPEG_LAYER_III"),
}


def too_long(what: str, seconds: float, max_seconds: float, *, at_least: bool = False
             ) -> InputError:
    """The one message for a recording over F5_MAX_AUDIO_SECONDS."""
    length = f"at least {seconds:.0f}" if at_least else f"{seconds:.0f}"
    return InputError(
        f"{what} is {length} s long, more than the {max_seconds:.0f} s limit: send a shorter "
        "recording (F5_MAX_AUDIO_SECONDS raises the limit)"
    )


def decode(data: bytes, *, what: str = "audio", max_seconds: float | None = None) -> Audio:
    """Bytes of any common audio format -> mono float32 Audio; InputError if it is not audio
    or (with `max_seconds`) longer than that, found out before decoding past the limit."""
    if not data:
        raise InputError(f"{what} is empty (0 bytes)")
    sound = _open_soundfile(data)
    if sound is None:
        samples, rate = _decode_with_ffmpeg(data, what, FFMPEG_RATE, max_seconds)
    else:
        with sound:
            samples, rate = _read_soundfile(sound, what, max_seconds)
    samples = np.ascontiguousarray(samples, dtype=np.float32)
    if samples.size == 0:
        raise InputError(f"{what} decodes to no samples: send a recording with sound in it")
    if not np.isfinite(samples).all():
        raise InputError(f"{what} contains invalid (NaN/inf) samples")
    return Audio(samples=samples, sample_rate=int(rate))


def duration(data: bytes, *, what: str = "audio", max_seconds: float | None = None) -> float:
    """Seconds of audio in `data`, without keeping the samples: the header's length where it
    has one, else counted (libsndfile blocks, or ffmpeg at a low rate), stopped at the limit."""
    if not data:
        raise InputError(f"{what} is empty (0 bytes)")
    sound = _open_soundfile(data)
    if sound is None:
        samples, rate = _decode_with_ffmpeg(data, what, DURATION_PROBE_RATE, max_seconds)
        return len(samples) / rate
    with sound:
        rate = _checked_rate(sound, what)
        if sound.frames < UNKNOWN_LENGTH:
            seconds = sound.frames / rate
            if max_seconds is not None and seconds > max_seconds:
                raise too_long(what, seconds, max_seconds)
            return seconds
        try:
            frames = sum(len(block) for block in _blocks(sound, what, max_seconds))
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise InputError(f"{what} is not a readable audio file: {exc}") from None
        return frames / rate


def _open_soundfile(data: bytes) -> sf.SoundFile | None:
    """The file opened by libsndfile (header read, nothing decoded), or None if not its format."""
    try:
        return sf.SoundFile(io.BytesIO(data))
    except (sf.LibsndfileError, RuntimeError, TypeError):
        return None


def _checked_rate(sound: sf.SoundFile, what: str) -> int:
    rate = int(sound.samplerate)
    if not 0 < rate <= MAX_SAMPLE_RATE:
        raise InputError(f"{what} declares a sample rate of {rate} Hz: not a usable recording")
    return rate


def _blocks(sound: sf.SoundFile, what: str, max_seconds: float | None):
    """Mono float32 blocks, refusing as soon as the audio passes `max_seconds`."""
    rate = _checked_rate(sound, what)
    declared = sound.frames if sound.frames < UNKNOWN_LENGTH else None
    if max_seconds is not None and declared is not None and declared > max_seconds * rate:
        raise too_long(what, declared / rate, max_seconds)  # the header says so: no decoding
    block_frames = max(1024, BLOCK_SAMPLES // max(1, sound.channels))
    total = 0
    while True:
        block = sound.read(block_frames, dtype="float32", always_2d=True)
        if len(block) == 0:
            return
        total += len(block)
        if max_seconds is not None and total > max_seconds * rate:
            raise too_long(what, total / rate, max_seconds, at_least=True)  # the header lied
        yield block.mean(axis=1, dtype=np.float32) if block.shape[1] > 1 else block[:, 0]


def _read_soundfile(sound: sf.SoundFile, what: str, max_seconds: float | None
                    ) -> tuple[np.ndarray, int]:
    try:
        blocks = list(_blocks(sound, what, max_seconds))
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise InputError(f"{what} is not a readable audio file: {exc}") from None
    samples = np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.float32)
    return samples, int(sound.samplerate)


def _decode_with_ffmpeg(data: bytes, what: str, rate: int, max_seconds: float | None
                        ) -> tuple[np.ndarray, int]:
    """Mono float32 at `rate` Hz; with `max_seconds`, ffmpeg stops one second past it."""
    import imageio_ffmpeg

    limit = ["-t", f"{max_seconds + 1:.3f}"] if max_seconds is not None else []
    cmd = [
        imageio_ffmpeg.get_ffmpeg_exe(),
        # Only the pipe: a playlist or concat file inside the input cannot make ffmpeg open
        # local files or URLs.
        *("-hide_banner", "-loglevel", "error", "-protocol_whitelist", "pipe", "-i", "pipe:0"),
        *limit, *("-f", "f32le", "-ac", "1", "-ar", str(rate), "pipe:1"),
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
    samples = np.frombuffer(proc.stdout, dtype=np.float32)
    if max_seconds is not None and len(samples) > max_seconds * rate:
        raise too_long(what, len(samples) / rate, max_seconds, at_least=True)
    return samples, rate


def encode(audio: Audio, fmt: str = "wav") -> bytes:
    """Encode to wav (PCM 16), flac or ogg (vorbis) bytes; mp3 through libsndfile."""
    container, subtype = _SOUNDFILE_FORMATS[fmt]
    buf = io.BytesIO()
    samples = np.clip(audio.samples, -1.0, 1.0)
    sf.write(buf, samples, audio.sample_rate, subtype=subtype, format=container)
    return buf.getvalue()


CONTENT_TYPES = {"wav": "audio/wav", "flac": "audio/flac", "ogg": "audio/ogg", "mp3": "audio/mpeg"}
