"""`f5-runtime healthcheck [--json] [--require-models]`: can this environment serve?

Imports the engines' code (f5-tts's model, Vocos, WhisperX's alignment, faster-whisper), runs
one small op on the chosen device, and reports torch/CUDA, every engine choice (device, dtype
per model, attention, torch.compile, warm-up: `choices`, the same the worker logs at start),
and which models are on the volume (paths only: no weights are loaded).

Exit 0 when the environment can serve: the bootstrap runs this right after building an env
and *before* `fetch-models`, so missing models are reported, not fatal, unless
`--require-models` is given (or with F5_LOAD_FORMAT=dummy, where no files are needed).
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
import time
from typing import Any

from f5_runtime.errors import ModelMissingError, RuntimeFailure

ENGINE_MODULES = {  # what each engine needs importable
    "f5_tts": ("f5_tts.model",),  # as serving imports them: f5.py, align_models.py
    "vocos": ("vocos",),
    "whisperx_alignment": ("whisperx.alignment",),
    "faster_whisper": ("faster_whisper",),
}


def _import_engines() -> dict[str, str]:
    from f5_runtime.engines.align_models import import_alignment
    from f5_runtime.engines.f5 import import_f5_model

    out = {}
    for name, modules in ENGINE_MODULES.items():
        started = time.perf_counter()
        try:
            for module in modules:
                if module == "f5_tts.model":
                    import_f5_model()
                elif module == "whisperx.alignment":
                    import_alignment()
                else:
                    importlib.import_module(module)
        except Exception as exc:  # any import failure means this env cannot serve
            out[name] = f"error: {type(exc).__name__}: {exc}"
        else:
            out[name] = f"ok ({time.perf_counter() - started:.1f} s)"
    return out


def _model_status(settings) -> dict[str, str]:
    """Where each model of the configuration is on the volume, or why it is missing."""
    from f5_runtime.models import manifest as models

    checks = {
        f"tts:{settings.tts_model}": lambda: models.tts_checkpoint(settings)[0],
        "vocoder": lambda: models.vocoder_dir(settings),
        "asr": lambda: models.asr_model_dir(settings),
        "nltk:punkt_tab": lambda: models.require_punkt(settings),
        **{
            f"align:{lang}": (lambda lang=lang: models.align_model(settings, lang).name)
            for lang in settings.languages
        },
    }
    out = {}
    for name, check in checks.items():
        try:
            out[name] = str(check())
        except ModelMissingError as exc:
            out[name] = f"missing: {exc}"
    return out


def check() -> dict[str, Any]:
    """The health report; `ok` says whether this environment can serve."""
    report: dict[str, Any] = {"ok": False, "python": platform.python_version()}
    try:
        from f5_runtime.config import Settings

        settings = Settings.from_env()
        report["load_format"] = settings.load_format
        report["tts_model"] = settings.tts_model
        import torch

        report["torch"] = torch.__version__
        report["cuda_available"] = torch.cuda.is_available()
        report["cuda_version"] = torch.version.cuda
        from f5_runtime.engines.device import (
            choose_device,
            engine_choices,
            flash_attn_importable,
        )

        choice = choose_device(settings.device, settings.tts_dtype)
        report.update(
            device=choice.device,
            device_name=choice.name,
            dtype=choice.dtype,
            attn_backend=choice.attn_backend,
            flash_attn=flash_attn_importable() if choice.is_cuda else None,
            choices=engine_choices(choice, settings),
        )
        float(torch.ones(4, device=choice.device).sum())  # the device really computes
        report["engines"] = _import_engines()
        report["models"] = {} if settings.load_format == "dummy" else _model_status(settings)
    except RuntimeFailure as exc:
        report["error"] = str(exc)
        return report
    except Exception as exc:  # torch missing or broken, a CUDA fault: this env cannot serve
        report["error"] = f"{type(exc).__name__}: {exc}"
        return report
    report["models_ready"] = not any(v.startswith("missing") for v in report["models"].values())
    report["ok"] = all(v.startswith("ok") for v in report["engines"].values())
    return report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--require-models",
        action="store_true",
        help="also fail when a model is missing from the volume (after fetch-models)",
    )


def main(args: argparse.Namespace) -> int:
    report = check()
    ok = report["ok"] and (report.get("models_ready", False) or not args.require_models)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for key, value in report.items():
            if isinstance(value, dict):
                print(f"{key}:")
                for k, v in value.items():
                    print(f"  {k}: {v}")
            else:
                print(f"{key}: {value}")
        print("healthy" if ok else "NOT healthy", file=sys.stderr)
    return 0 if ok else 1
