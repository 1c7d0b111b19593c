"""Voice management jobs (`voice_action`: register, list, delete) on the voice library.

Registration fetches and decodes the recording exactly as a job's reference is (same URL
rules, size and length limits; stage `fetch`), then the library prepares and stores it
(stage `reference`). Nothing is stored unless the whole voice is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from f5_runtime.api.request import Limits
from f5_runtime.api.voices import VoiceAction, VoiceActionResult
from f5_runtime.flow.inputs import job_workdir, load_input
from f5_runtime.io.urls import redact

if TYPE_CHECKING:
    from f5_runtime.config import Settings
    from f5_runtime.flow.clock import StageClock
    from f5_runtime.io.inputs import Inputs
    from f5_runtime.voices.library import VoiceLibrary


def run_voice_action(request: VoiceAction, job_id: str, *, voices: VoiceLibrary,
                     inputs: Inputs, settings: Settings, clock: StageClock,
                     limits: Limits | None = None) -> VoiceActionResult:
    """Do what `request` asks; the API's JSON in the result (api/voices.py)."""
    if request.voice_action == "list":
        output = {"voices": [info.to_json() for info in voices.list()]}
    elif request.voice_action == "delete":
        assert request.voice is not None
        voices.delete(request.voice)
        output = {"deleted": request.voice}
    else:
        assert request.voice is not None and request.voice_reference_url is not None
        url = request.voice_reference_url
        limits = limits or Limits.from_settings(settings)
        with job_workdir(settings, job_id) as workdir:
            clock.enter("fetch")
            audio = load_input(inputs, url, workdir, "voice reference", limits)
        clock.enter("reference")
        info = voices.register(request.voice, audio, request.voice_reference_text,
                               request.reference_language(), request.overwrite,
                               source=redact(url))
        output = {"voice": info.to_json()}
    clock.stop()
    return VoiceActionResult(output)
