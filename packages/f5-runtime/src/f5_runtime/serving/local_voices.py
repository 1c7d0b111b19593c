"""`f5-runtime voices add|list|rm`: the voice library from the command line.

    voices add NAME FILE_OR_URL [--text TRANSCRIPT] [--language xx] [--overwrite]
    voices list [--json]
    voices rm NAME

The same store as the endpoint (the volume's voices/, or F5_VOICES_URL) and the same
validation and preparation as a `voice_action` job; local files are allowed here. Only `add`
loads the models (to prepare the recording). Exit 0 done, 2 a bad argument or input, 1
anything else.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from f5_runtime.errors import RuntimeFailure
from f5_runtime.serving.local import Progress, report_failure


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="register a voice from a recording")
    add.add_argument("name", help="the voice's name: a-z, 0-9, '_' and '-' (up to 64)")
    add.add_argument("recording", metavar="FILE_OR_URL",
                     help="the recording: a local file, s3://, https:// or data: URI")
    add.add_argument("--text", help="what the recording says (else recognised, once)")
    add.add_argument("--language", help="the recording's language, e.g. en (else detected)")
    add.add_argument("--overwrite", action="store_true", help="replace a voice of that name")
    listing = sub.add_parser("list", help="the voices: built-ins and registered")
    listing.add_argument("--json", action="store_true", help="print them as JSON")
    rm = sub.add_parser("rm", help="delete a registered voice")
    rm.add_argument("name")


def request(args: argparse.Namespace) -> dict[str, Any]:
    """The `voice_action` input these arguments describe (validated like the endpoint's)."""
    if args.action == "list":
        return {"voice_action": "list"}
    if args.action == "rm":
        return {"voice_action": "delete", "voice": args.name}
    raw: dict[str, Any] = {"voice_action": "register", "voice": args.name,
                           "voice_reference_url": args.recording, "overwrite": args.overwrite}
    for field, value in (("voice_reference_text", args.text), ("language", args.language)):
        if value:
            raw[field] = value
    return raw


def run(raw: dict[str, Any], progress: Progress) -> dict[str, Any]:
    from f5_runtime.api.request import Limits
    from f5_runtime.api.voices import VoiceAction, parse_input
    from f5_runtime.config import Settings
    from f5_runtime.flow.clock import StageClock
    from f5_runtime.flow.voice_actions import run_voice_action
    from f5_runtime.io.storage import Storage
    from f5_runtime.serving import worker
    from f5_runtime.voices.library import VoiceLibrary

    settings = Settings.from_env()
    limits = Limits.from_settings(settings, allow_local_files=True)
    action = parse_input(raw, limits)  # a bad argument fails before any model loads
    prepare = None
    if raw["voice_action"] == "register":
        progress.say("loading models...")
        prepare = worker.load_engines(settings).prepare_reference
    storage = Storage(settings, allow_local_files=True)
    voices = VoiceLibrary.from_settings(settings, s3=storage.s3, prepare=prepare)
    assert isinstance(action, VoiceAction)
    result = run_voice_action(action, "voices", voices=voices, inputs=storage.inputs,
                              settings=settings, clock=StageClock(progress), limits=limits)
    return result.to_json()


def table(voices: list[dict[str, Any]]) -> str:
    lines = [f"{'NAME':24} {'SECONDS':>7}  {'LANG':4}  {'':8}  TRANSCRIPT"]
    for v in voices:
        text = v["text"] if len(v["text"]) <= 60 else v["text"][:57] + "..."
        lines.append(f"{v['name']:24} {v['duration']:7.1f}  {v['language'] or '?':4}  "
                     f"{'built-in' if v['builtin'] else '':8}  {text}")
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    try:
        output = run(request(args), Progress())
    except RuntimeFailure as exc:
        return report_failure(exc)
    if "voices" in output:
        print(json.dumps(output["voices"], indent=2, ensure_ascii=False) if args.json
              else table(output["voices"]))
    elif "deleted" in output:
        print(f"deleted voice {output['deleted']}")
    else:
        v = output["voice"]
        print(f"registered voice {v['name']}: {v['duration']:.1f} s, "
              f"language {v['language'] or 'unknown'}, transcript {v['text']!r}")
    return 0
