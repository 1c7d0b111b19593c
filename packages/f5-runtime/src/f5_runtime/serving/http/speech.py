"""OpenAI's speech routes: POST /v1/audio/speech (audio or SSE, streamed), GET /v1/models.

A speech request is planned (its voice from the voice library, voices.py; text cut into
chunks, the first one short) and its first piece generated before the response starts, so
that a bad request, an unknown voice, a full queue or a failure on the first chunk gets a
proper status and error. Its chunks go to the engine scheduler as a stream's do (its first
chunk ahead of other jobs' chunks, the rest a few ahead of the client: flow/control.py), and
each is encoded and sent as soon as the assembler releases it (all but the cross-fade tail).
If the client leaves or the request runs out of time, its job is stopped: its queued chunks
are dropped and no further chunk is asked for (`chunks_cancelled` counts those never sent).

SSE (`stream_format: "sse"`): `speech.audio.delta` events with base64 audio of the chosen
format, a `speech.audio.words` event per chunk (its words timed on the output), and
`speech.audio.done` last, with `usage` as OpenAI's (input characters as input tokens; mel
frames of the output, 93.75 a second, as output tokens) and `timings`: the request's seconds
per stage from the flow's own stage clock (clock.py), `wait` being the pauses between chunks
(other requests' turns on the device, the client reading).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from f5_runtime.api.request import DEFAULT_LANGUAGE
from f5_runtime.api.result import word_json
from f5_runtime.engines.f5 import HOP
from f5_runtime.flow.chunks import STREAM_FIRST_CHUNK_SCALE, plan_speech, stream_speech
from f5_runtime.flow.clock import StageClock
from f5_runtime.flow.control import JobControl
from f5_runtime.io.stream_audio import CONTENT_TYPES, encoder
from f5_runtime.serving.http import voices
from f5_runtime.serving.http.errors import HttpError
from f5_runtime.serving.http.protocol import MODEL_ALIASES, MODEL_ID, SpeechRequest

if TYPE_CHECKING:
    import numpy as np

    from f5_runtime.flow.chunks import SpeechPlan, SpokenPiece
    from f5_runtime.serving.http.service import Service

log = logging.getLogger(__name__)
router = APIRouter()


@router.get("/v1/models")
async def list_models() -> dict[str, Any]:
    return {"object": "list", "data": [
        {"id": name, "object": "model", "created": 0, "owned_by": "f5-tts"}
        for name in (MODEL_ID, *MODEL_ALIASES)]}


@router.post("/v1/audio/speech")
async def create_speech(body: SpeechRequest, request: Request) -> ClosingResponse:
    service: Service = request.app.state.service
    engines, _ = service.require_ready()
    settings = service.settings
    if len(body.input) > settings.max_text_chars:
        raise HttpError(413, f"input is {len(body.input)} characters, more than this server's "
                        f"{settings.max_text_chars} (F5_MAX_TEXT_CHARS): split the text",
                        param="input")
    language = body.language or DEFAULT_LANGUAGE
    if language not in settings.languages:
        raise HttpError(400, f"language {language!r} is not served here (it serves "
                        f"{', '.join(settings.languages)})", param="language")
    release = service.admission.take()
    try:
        clock = StageClock()  # the stages of the job flow (flow/job.py), in the same order
        clock.enter("reference")
        reference = await voices.speech_voice(service, body.voice, language)
        options = replace(body.synthesis_options(), first_chunk_scale=STREAM_FIRST_CHUNK_SCALE)
        clock.enter("generate")  # planning the chunks is the first step of generating them
        plan = await asyncio.to_thread(plan_speech, engines, body.input, reference, language,
                                       options, body.verify_options())
        speech = SpeechStream(service, plan, body.response_format, clock)
    except BaseException:
        release()
        raise
    try:
        first = await speech.next_piece()
    except BaseException:
        speech.drop()
        release()
        raise
    media = "text/event-stream" if body.stream_format == "sse" else CONTENT_TYPES[
        body.response_format]
    body_iter = speech.sse(first, len(body.input)) if body.stream_format == "sse" else (
        speech.audio(first))
    return ClosingResponse(_released(body_iter, speech, release), media_type=media)


class ClosingResponse(StreamingResponse):
    """A streamed response that closes its body however the response ended. Starlette cancels
    a response whose client left; when that lands while a piece is being sent, the body
    generator is left suspended and its cleanup (dropping the job, freeing its place in the
    queue) would wait for the garbage collector."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self.body_iterator.aclose()  # type: ignore[attr-defined]


async def _released(chunks: AsyncIterator[bytes], speech: SpeechStream, release
                    ) -> AsyncIterator[bytes]:
    """The response body; whatever ends it (done, client gone, failure), the rest of the job
    is dropped and its place in the queue freed."""
    try:
        async for data in chunks:
            yield data
    finally:
        speech.drop()
        release()


class SpeechStream:
    """One request's chunks, taken from the flow as the client reads, encoded as they come."""

    def __init__(self, service: Service, plan: SpeechPlan, fmt: str, clock: StageClock):
        self.service = service
        self.plan = plan
        self.rate = service.engines.sample_rate  # type: ignore[union-attr]
        self.encoder = encoder(fmt, self.rate)
        self.control = JobControl(streaming=True)
        self.unwatch = service.watch(self.control)
        self.clock = clock
        clock.on_stage = lambda _: self.control.check()
        self.pieces = stream_speech(service.engines, plan, clock,  # type: ignore[arg-type]
                                    self.control)
        self.pending: Future | None = None  # the `next` running on a thread, if any
        self.generated = 0
        self.samples = 0  # of audio sent
        self.finished = False

    def _next(self) -> SpokenPiece | None:  # on a thread of its own
        spoken = next(self.pieces, None)
        self.clock.enter("wait")  # until the stream asks again (and the generator resumes)
        return spoken

    async def next_piece(self) -> SpokenPiece | None:
        self.control.check()
        self.pending = _on_a_thread(self._next)
        spoken = await asyncio.wrap_future(self.pending)
        if spoken is None:
            self.finished = True
        elif spoken.chunk is not None:
            self.generated += 1
            self.service.counters.chunks_generated += 1
        return spoken

    async def each(self, first: SpokenPiece | None) -> AsyncIterator[tuple[bytes, SpokenPiece]]:
        spoken = first
        try:
            while spoken is not None:
                self.samples += len(spoken.piece.samples)
                yield self.encoded(spoken.piece.samples), spoken
                spoken = await self.next_piece()
        except Exception:  # the status is sent already: end the stream, keep the reason
            log.exception("speech stream stopped after %d of %d chunks", self.generated,
                          len(self.plan.chunks))
            return
        yield self.encoded(None), None  # type: ignore[misc]

    def encoded(self, samples: np.ndarray | None) -> bytes:
        """The next bytes of the format (None: the last ones), timed as `encode`."""
        self.clock.enter("encode")
        data = self.encoder.close() if samples is None else self.encoder.feed(samples)
        self.clock.enter("wait")
        return data

    async def audio(self, first: SpokenPiece | None) -> AsyncIterator[bytes]:
        async for data, _ in self.each(first):
            if data:
                yield data

    async def sse(self, first: SpokenPiece | None, input_chars: int) -> AsyncIterator[bytes]:
        async for data, spoken in self.each(first):
            if data:
                yield _event({"type": "speech.audio.delta",
                              "audio": base64.b64encode(data).decode()})
            if spoken is not None and spoken.chunk is not None:
                chunk = spoken.chunk
                yield _event({"type": "speech.audio.words", "chunk": chunk.index,
                              "chunks": chunk.count, "text": chunk.text,
                              "offset": round(chunk.offset, 3),
                              "words": [word_json(w) for w in spoken.piece.words]})
        if self.finished:
            self.clock.stop()
            frames = self.samples // HOP
            yield _event({"type": "speech.audio.done", "usage": {
                "input_tokens": input_chars, "output_tokens": frames,
                "total_tokens": input_chars + frames},
                "timings": {k: round(v, 4) for k, v in self.clock.timings.items()}})

    def drop(self) -> None:
        """The response ended: stop the job (its queued chunks are dropped), count what was
        never sent, close the flow once its thread lets go of it."""
        if not self.finished:
            self.service.counters.chunks_cancelled += len(self.plan.chunks) - self.generated
            self.finished = True
            self.control.stop("the client went away: the rest of the job was dropped")
        self.unwatch()
        pending = self.pending
        if pending is not None and not pending.done():
            pending.add_done_callback(lambda _: self.pieces.close())
        else:
            self.pieces.close()


def _on_a_thread(fn: Callable[..., Any], *args: Any) -> Future:
    """`fn(*args)` on a thread of its own; the future is done only once the thread is (an
    asyncio executor future is marked done when cancelled, with its thread still running)."""
    future: Future = Future()

    def run() -> None:
        if future.set_running_or_notify_cancel():
            try:
                future.set_result(fn(*args))
            except BaseException as exc:
                future.set_exception(exc)

    threading.Thread(target=run, name="f5-speech-stream", daemon=True).start()
    return future


def _event(payload: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()
