"""Synthesis with a bare TTSEngine through the job flow's chunk generator, words left out (no
aligner): what the CUDA and out-of-memory tests need of a whole synthesis."""

from __future__ import annotations

from f5_runtime.engines.voice import VoiceEngines
from f5_runtime.flow.chunks import Speech, plan_speech, synthesize
from f5_runtime.flow.clock import StageClock
from f5_runtime.flow.scheduler import scheduler_for


class NoWords:
    """An aligner that times nothing (these tests are about the audio)."""

    def align(self, audio, text, language):
        return []

    def transcribe(self, audio, language):
        raise AssertionError("no speech recognition here")


def synthesize_tts(tts, text: str, reference, options, *, batched: bool) -> Speech:
    """`text` in the voice of `reference`: the chunks share sampler calls when `batched` (as
    on CUDA), else one chunk per call (the CPU default)."""
    return synthesize_counted(tts, text, reference, options, batched=batched)[0]


def synthesize_counted(tts, text: str, reference, options, *, batched: bool
                       ) -> tuple[Speech, int]:
    """`synthesize_tts`, and the sampler calls it made."""
    engines = VoiceEngines(tts, NoWords(), references=None)  # type: ignore[arg-type]
    engines.batch_frames = tts.batch_frames if batched else 0
    speech = synthesize(engines, plan_speech(engines, text, reference, "en", options),
                        StageClock())
    return speech, scheduler_for(engines).counters.batches
