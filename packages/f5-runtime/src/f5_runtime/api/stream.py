"""API v1, streaming: the chunk events a streamed job sends before its result.

One event per piece of speech the assembler releases (cross-faded; only the fade tail is held
back until the next chunk), split so that no event carries more than `MAX_EVENT_SECONDS` of
audio: base64 of 8 s of 24 kHz 16-bit PCM is 512 KB, well under RunPod's 1 MB per streamed
chunk. The audio is raw PCM (`pcm_s16le`, mono, `sample_rate`): events are joined by simply
appending their samples.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from f5_runtime.api.result import word_json
from f5_runtime.io.stream_audio import pcm16

if TYPE_CHECKING:
    import numpy as np

    from f5_runtime.engines.types import Word
    from f5_runtime.flow.chunks import SpokenPiece

MAX_EVENT_SECONDS = 8.0
STREAM_AUDIO_FORMAT = "pcm_s16le"


def chunk_events(samples: np.ndarray, start: int, sample_rate: int, words: Sequence[Word],
                 chunk: int | None, chunks: int, text: str) -> list[dict[str, Any]]:
    """The events of one released piece: audio from sample `start` of the output on, with the
    words that became final with it (times on the output); the words ride on the first event.
    `chunk` is None for the tail released at the end."""
    step = int(MAX_EVENT_SECONDS * sample_rate)
    events = []
    for i in range(0, max(len(samples), 1), step):
        part = samples[i : i + step]
        events.append({
            "event": "chunk", "chunk": chunk, "chunks": chunks,
            "text": text if i == 0 else "",
            "start": round((start + i) / sample_rate, 3),
            "duration": round(len(part) / sample_rate, 3),
            "words": [word_json(w) for w in words] if i == 0 else [],
            "audio_format": STREAM_AUDIO_FORMAT, "sample_rate": sample_rate,
            "audio_base64": base64.b64encode(pcm16(part)).decode(),
        })
    return events


def wants_stream(job_input: Any) -> bool:
    """The job asks to be streamed (`"stream": true` in its input)."""
    return isinstance(job_input, dict) and job_input.get("stream") is True


def spoken_events(spoken: SpokenPiece, sample_rate: int) -> list[dict[str, Any]]:
    """The events of one piece the flow released (`chunk_events` of its audio and words)."""
    chunk, piece = spoken.chunk, spoken.piece
    return chunk_events(piece.samples, piece.start, sample_rate, piece.words,
                        None if chunk is None else chunk.index,
                        0 if chunk is None else chunk.count, "" if chunk is None else chunk.text)


def result_event(result: dict[str, Any]) -> dict[str, Any]:
    """The last event of a stream: the job's result, as /runsync returns it."""
    return {"event": "result", **result}
