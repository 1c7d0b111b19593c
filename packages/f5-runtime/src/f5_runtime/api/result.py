"""API v1: what a successful job returns. `JobResult.to_json()` gives plain JSON types only
(the RunPod SDK drops a result it cannot serialise)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from f5_runtime.engines.types import ChunkQuality, Word
from f5_runtime.io.outputs import PublishedFile


def word_json(word: Word) -> dict[str, Any]:
    """One entry of `word_timings`: word, start, end (seconds, ms precision), score if known."""
    out: dict[str, Any] = {"word": word.word, "start": round(float(word.start or 0.0), 3),
                           "end": round(float(word.end or 0.0), 3)}
    if word.score is not None:
        out["score"] = round(float(word.score), 3)
    return out


@dataclass(frozen=True)
class JobResult:
    """What a successful job returns (`to_json()` gives plain JSON types only)."""

    kind: str  # "synthesize" | "subtitle"
    duration: float  # seconds of the output (synthesize) or input (subtitle) audio
    sample_rate: int
    language: str
    text: str  # the text spoken (as given, or as transcribed)
    word_timings: list[Word]  # every word timed (the flow's assembler saw to it)
    audio: PublishedFile | None = None  # synthesize only
    audio_format: str | None = None
    subtitles: PublishedFile | None = None
    subtitle_format: str | None = None
    processing_time: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    quality: list[ChunkQuality] | None = None  # synthesize only: per chunk, verification

    def quality_json(self) -> dict[str, Any] | None:
        return None if self.quality is None else quality_json(self.quality)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        if self.audio is not None:
            _put_file(out, "audio", self.audio, inline_key="audio_base64")
            out["audio_format"] = self.audio_format
        if self.subtitles is not None:
            _put_file(out, "subtitles", self.subtitles, inline_key="subtitles")
            out["subtitle_format"] = self.subtitle_format
        out.update(
            text=self.text,
            language=self.language,
            word_timings=[word_json(w) for w in self.word_timings],
            duration=round(float(self.duration), 3),
            sample_rate=int(self.sample_rate),
            processing_time=round(float(self.processing_time), 3),
            timings={k: round(float(v), 4) for k, v in self.timings.items()},
        )
        if self.quality is not None:
            out["quality"] = quality_json(self.quality)
        return out


def quality_json(chunks: list[ChunkQuality]) -> dict[str, Any]:
    """`quality`: per chunk the written and spoken text, attempts, the kept seed, its scores
    and why each rejected attempt was rejected; then how many chunks were sampled more than
    once, and how many never passed (all of them when verification is off)."""
    return {
        "chunks": [{"text": c.text, "spoken": c.spoken, "attempts": c.attempts, "seed": c.seed,
                    "scores": {k: float(v) for k, v in c.scores.items()},
                    "rejected": [{"seed": r.seed, "reasons": list(r.reasons)}
                                 for r in c.rejected]}
                   for c in chunks],
        "regenerated": sum(c.attempts > 1 for c in chunks),
        "unverified": sum(c.passed is not True for c in chunks),
    }


def _put_file(out: dict[str, Any], name: str, published: PublishedFile, inline_key: str) -> None:
    if published.s3_url is not None:
        out[f"{name}_url"] = published.s3_url
        out[f"{name}_presigned_url"] = published.presigned_url
    else:
        out[inline_key] = published.inline
