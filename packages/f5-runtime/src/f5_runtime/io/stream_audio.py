"""Streaming audio encoders: samples in, piece by piece, bytes out as soon as they are final.

OpenAI's `response_format`s, each playable while it is still arriving:
- `pcm`: raw 16-bit little-endian mono samples at the synthesis rate (24 kHz), no header;
- `wav`: a RIFF header whose sizes say "unknown" (0xFFFFFFFF, as other streaming servers
  send), then the same samples; players read until the connection ends;
- `mp3`, `opus` (in Ogg), `aac` (ADTS), `flac`: PyAV (ffmpeg inside its wheel) encodes each
  piece and the muxer writes to a sink that only appends, so nothing is ever rewritten (an
  Ogg page is flushed every 20 ms of audio instead of once a second).

`encoder(fmt, rate)` gives one; `feed(samples)` returns the bytes ready now, `close()` the rest.
"""

from __future__ import annotations

import struct

import numpy as np

FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")
CONTENT_TYPES = {
    "mp3": "audio/mpeg", "opus": "audio/ogg", "aac": "audio/aac", "flac": "audio/flac",
    "wav": "audio/wav", "pcm": "audio/pcm",
}
UNKNOWN_SIZE = 0xFFFFFFFF  # RIFF/data size of a stream whose length is not known yet
# response_format -> (PyAV container, codec, codec sample rate or None for the input's)
_AV_FORMATS = {
    "mp3": ("mp3", "libmp3lame", None), "opus": ("ogg", "libopus", 48_000),
    "aac": ("adts", "aac", None), "flac": ("flac", "flac", None),
}
OGG_PAGE_MICROSECONDS = "20000"


def pcm16(samples: np.ndarray) -> bytes:
    """float32 in [-1, 1] -> 16-bit little-endian PCM."""
    return (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def wav_stream_header(rate: int, channels: int = 1, bits: int = 16) -> bytes:
    """A 44-byte WAV header with unknown sizes (for a stream)."""
    block = channels * bits // 8
    return (b"RIFF" + struct.pack("<I", UNKNOWN_SIZE) + b"WAVE"
            + b"fmt " + struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * block, block, bits)
            + b"data" + struct.pack("<I", UNKNOWN_SIZE))


class PcmEncoder:
    def __init__(self, rate: int, header: bytes = b""):
        self.rate = rate
        self._pending = header

    def feed(self, samples: np.ndarray) -> bytes:
        out, self._pending = self._pending + pcm16(samples), b""
        return out

    def close(self) -> bytes:
        out, self._pending = self._pending, b""
        return out


class _AppendOnlySink:
    """A write-only file for PyAV: without `seek` the muxers never go back to patch a header."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def write(self, data: bytes) -> int:
        self.buffer += data
        return len(data)

    def take(self) -> bytes:
        out = bytes(self.buffer)
        self.buffer.clear()
        return out


class AvEncoder:
    def __init__(self, fmt: str, rate: int):
        import av

        container, codec, codec_rate = _AV_FORMATS[fmt]
        self.rate = rate
        self._sink = _AppendOnlySink()
        options = {"page_duration": OGG_PAGE_MICROSECONDS} if container == "ogg" else {}
        self._container = av.open(self._sink, mode="w", format=container, options=options,
                                  container_options={"flush_packets": "1"})
        self._stream = self._container.add_stream(codec, rate=codec_rate or rate)
        self._stream.layout = "mono"
        self._av = av

    def feed(self, samples: np.ndarray) -> bytes:
        if len(samples):
            frame = self._av.AudioFrame.from_ndarray(
                np.clip(samples, -1.0, 1.0).astype(np.float32)[None, :], format="flt",
                layout="mono")
            frame.sample_rate = self.rate
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
        return self._sink.take()

    def close(self) -> bytes:
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()
        return self._sink.take()


def encoder(fmt: str, rate: int) -> PcmEncoder | AvEncoder:
    """A streaming encoder for one response_format (FORMATS)."""
    if fmt == "pcm":
        return PcmEncoder(rate)
    if fmt == "wav":
        return PcmEncoder(rate, wav_stream_header(rate))
    if fmt in _AV_FORMATS:
        return AvEncoder(fmt, rate)
    raise ValueError(f"unknown audio format {fmt!r}: one of {', '.join(FORMATS)}")
