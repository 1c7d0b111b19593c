"""F5-TTS and Vocos: the facts of the models (rates, frame sizes, architectures) and the
builders that both loading paths use (files on the volume in tts.py, random weights in
dummy.py). torch, f5-tts and vocos are imported inside the functions only.

Serving never imports f5-tts's inference module (`f5_tts.infer.utils_infer`): it pulls in
transformers' pipelines, torchvision, scikit-learn and matplotlib (≈ 7 s and a font cache on
the first run) for upstream's CLI and reference preprocessing, which this runtime replaces.
The model and the vocoder are built and loaded here from the same files instead, and
f5-tts's model package without its trainer (`import_f5_model`).
"""

from __future__ import annotations

import importlib.util
from importlib.resources import files
from pathlib import Path
from types import ModuleType
from typing import Any

TTS_SAMPLE_RATE = 24_000  # Hz: F5-TTS's mel spectrogram and Vocos's output
HOP = 256  # samples per mel frame (Vocos mel-24khz)
N_MELS = 100
N_FFT = 1024
WIN_LENGTH = 1024  # samples per STFT window (f5-tts's mel spectrogram)
FRAMES_PER_SECOND = TTS_SAMPLE_RATE / HOP  # 93.75
TARGET_RMS = 0.1  # quiet references are raised to this loudness (as upstream's infer_process)

# F5_TTS_MODEL=tiny: a tiny DiT for smoke tests (~190k params); the fixtures save this one.
TINY_DIT: dict[str, Any] = dict(
    dim=64, depth=2, heads=2, dim_head=32, ff_mult=2, text_dim=32, conv_layers=1
)
TINY_VOCOS_SIZE = dict(dim=32, intermediate_dim=64, num_layers=1)
REAL_VOCOS_SIZE = dict(dim=512, intermediate_dim=1536, num_layers=8)  # charactr/vocos-mel-24khz


def vocos_config(dim: int, intermediate_dim: int, num_layers: int) -> dict[str, Any]:
    """A Vocos mel-24khz `config.yaml` as a dict (the mel interface F5-TTS needs)."""
    return {
        "feature_extractor": {
            "class_path": "vocos.feature_extractors.MelSpectrogramFeatures",
            "init_args": dict(
                sample_rate=TTS_SAMPLE_RATE, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS,
                padding="center",
            ),
        },
        "backbone": {
            "class_path": "vocos.models.VocosBackbone",
            "init_args": dict(
                input_channels=N_MELS,
                dim=dim,
                intermediate_dim=intermediate_dim,
                num_layers=num_layers,
            ),
        },
        "head": {
            "class_path": "vocos.heads.ISTFTHead",
            "init_args": dict(dim=dim, n_fft=N_FFT, hop_length=HOP, padding="center"),
        },
    }


def vocos_size(tts_model: str) -> dict[str, int]:
    """The Vocos size that goes with a TTS model: tiny with tiny, the real one otherwise."""
    return TINY_VOCOS_SIZE if tts_model == "tiny" else REAL_VOCOS_SIZE


def build_vocos(config: dict[str, Any]):
    """A Vocos module from a config dict (weights as initialised: load or randomise them)."""
    from vocos import Vocos
    from vocos.pretrained import instantiate_class

    return Vocos(
        feature_extractor=instantiate_class((), config["feature_extractor"]),
        backbone=instantiate_class((), config["backbone"]),
        head=instantiate_class((), config["head"]),
    ).eval()


def build_cfm(name: str, attn_backend: str, vocab_file: str):
    """The CFM model (DiT or UNetT backbone, mel spectrogram, Euler ODE) that a checkpoint of
    `name` fits, as initialised; `vocab_file` is the model's vocab.txt (its text embedding)."""
    CFM = import_f5_model().CFM
    from f5_tts.model.utils import get_tokenizer

    backbone, arch = architecture(name, attn_backend)
    vocab_char_map, vocab_size = get_tokenizer(vocab_file, "custom")
    return CFM(
        transformer=backbone(**arch, text_num_embeds=vocab_size, mel_dim=N_MELS),
        mel_spec_kwargs=dict(
            n_fft=N_FFT,
            hop_length=HOP,
            win_length=WIN_LENGTH,
            n_mel_channels=N_MELS,
            target_sample_rate=TTS_SAMPLE_RATE,
            mel_spec_type="vocos",
        ),
        odeint_kwargs=dict(method="euler"),
        vocab_char_map=vocab_char_map,
    )


def checkpoint_weights(path: Path) -> dict[str, Any]:
    """The inference weights of an F5-TTS checkpoint: its EMA copy, as f5-tts's releases ship
    it (safetensors: only the EMA weights; `.pt`: under `ema_model_state_dict`), with the
    `ema_model.` prefix and the EMA's own counters left out."""
    import torch

    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)["ema_model_state_dict"]
    return {k.removeprefix("ema_model."): v for k, v in state.items()
            if k not in EMA_COUNTERS and k not in MEL_BUFFERS}


EMA_COUNTERS = ("initted", "step")
# buffers older checkpoints carry for a mel module f5-tts now builds on the fly
MEL_BUFFERS = ("mel_spec.mel_stft.mel_scale.fb", "mel_spec.mel_stft.spectrogram.window")


def load_vocos(directory: Path):
    """Vocos from a `config.yaml` + `pytorch_model.bin` directory (the Hub's layout)."""
    import torch
    import yaml

    vocoder = build_vocos(yaml.safe_load((directory / "config.yaml").read_text()))
    state = torch.load(directory / "pytorch_model.bin", map_location="cpu", weights_only=True)
    vocoder.load_state_dict(state)
    return vocoder.eval()


def architecture(name: str, attn_backend: str = "torch") -> tuple[type, dict[str, Any]]:
    """(backbone class, its config) for F5TTS_v1_Base, E2TTS_Base or tiny."""
    upstream = import_f5_model()
    DiT, UNetT = upstream.DiT, upstream.UNetT

    if name == "tiny":
        return DiT, {**TINY_DIT, "attn_backend": attn_backend}
    import yaml

    config = yaml.safe_load(files("f5_tts").joinpath(f"configs/{name}.yaml").read_text())
    arch = dict(config["model"]["arch"])
    backbone = {"DiT": DiT, "UNetT": UNetT}[config["model"]["backbone"]]
    if "attn_backend" in arch:
        arch["attn_backend"] = attn_backend
    return backbone, arch


# What f5_tts.model's package __init__ imports beside the model classes: the trainer (wandb,
# accelerate, datasets; ≈ 7 s of a worker's start), which inference never uses.
TRAINING_NAMES = ("Trainer",)


def import_f5_model() -> ModuleType:
    """The `f5_tts.model` package with its model classes but without its training code.

    The package is registered without running its `__init__`, the model modules are imported
    into it, and the `__init__` runs only when a training name is asked for
    (`from f5_tts.model import Trainer` works as ever, it just pays the import then)."""
    import sys

    if "f5_tts.model" in sys.modules:  # already imported, lazily or in full
        return sys.modules["f5_tts.model"]
    spec = importlib.util.find_spec("f5_tts.model")
    assert spec is not None and spec.loader is not None, "f5-tts is not installed"
    package = importlib.util.module_from_spec(spec)

    def complete(name: str):
        if name not in TRAINING_NAMES:
            raise AttributeError(f"module 'f5_tts.model' has no attribute {name!r}")
        spec.loader.exec_module(package)  # the real __init__, now: the trainer and all
        return getattr(package, name)

    package.__getattr__ = complete  # type: ignore[attr-defined]  # PEP 562
    sys.modules["f5_tts.model"] = package
    try:
        from f5_tts.model.backbones.dit import DiT
        from f5_tts.model.backbones.mmdit import MMDiT
        from f5_tts.model.backbones.unett import UNetT
        from f5_tts.model.cfm import CFM
    except BaseException:
        del sys.modules["f5_tts.model"]  # a later import gets the error again, not a stub
        raise
    package.DiT, package.MMDiT, package.UNetT, package.CFM = DiT, MMDiT, UNetT, CFM
    return package


def import_f5_infer():
    """f5_tts.infer.utils_infer, imported without pydub's "no ffmpeg" RuntimeWarning (pydub is
    only used by upstream's reference preprocessing, which this runtime replaces)."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Couldn't find ffmpeg", category=RuntimeWarning)
        import f5_tts.infer.utils_infer as utils_infer
    return utils_infer
