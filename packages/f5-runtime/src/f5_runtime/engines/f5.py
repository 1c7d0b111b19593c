"""F5-TTS and Vocos: the facts of the models (rates, frame sizes, architectures) and the
builders that both loading paths use (files on the volume in tts.py, random weights in
dummy.py). torch, f5-tts and vocos are imported inside the functions only.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

TTS_SAMPLE_RATE = 24_000  # Hz: F5-TTS's mel spectrogram and Vocos's output
HOP = 256  # samples per mel frame (Vocos mel-24khz)
N_MELS = 100
N_FFT = 1024
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


def architecture(name: str, attn_backend: str = "torch") -> tuple[type, dict[str, Any]]:
    """(backbone class, its config) for F5TTS_v1_Base, E2TTS_Base or tiny."""
    from f5_tts.model import DiT, UNetT

    if name == "tiny":
        return DiT, {**TINY_DIT, "attn_backend": attn_backend}
    import yaml

    config = yaml.safe_load(files("f5_tts").joinpath(f"configs/{name}.yaml").read_text())
    arch = dict(config["model"]["arch"])
    backbone = {"DiT": DiT, "UNetT": UNetT}[config["model"]["backbone"]]
    if "attn_backend" in arch:
        arch["attn_backend"] = attn_backend
    return backbone, arch


def import_f5_infer():
    """f5_tts.infer.utils_infer, imported without pydub's "no ffmpeg" RuntimeWarning (pydub is
    only used by upstream's reference preprocessing, which this runtime replaces)."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Couldn't find ffmpeg", category=RuntimeWarning)
        import f5_tts.infer.utils_infer as utils_infer
    return utils_infer
