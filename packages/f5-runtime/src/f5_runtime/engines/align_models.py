"""Where the aligner's and the ASR's models come from, and how they are wrapped.

`ModelSource` is the seam: `VolumeModels` loads them from the volume (whisperx's own
`load_align_model` and `load_model`, offline), `dummy.DummyModels` builds tiny random ones in
memory. Every aligner is wrapped by `windowed`, so that long recordings do not need memory
growing with the square of their length.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from f5_runtime.models import manifest

if TYPE_CHECKING:
    from f5_runtime.config import Settings

logger = logging.getLogger(__name__)

ALIGN_SAMPLE_RATE = 16_000  # Hz: what wav2vec2 aligners and Whisper take
ASR_COMPUTE_TYPE = {"cuda": "float16", "cpu": "int8"}  # faster-whisper's advice per device
# wav2vec2 attends over the whole input (memory grows with its square): long recordings get
# their emissions computed per window, the alignment itself still runs over all of them
WINDOW_SAMPLES = 30 * ALIGN_SAMPLE_RATE  # a multiple of the model's 320-sample frame stride
MIN_WINDOW_SAMPLES = 400  # one wav2vec2 frame; a shorter last window is left out


class ModelSource:
    """Where the models come from: the volume (`VolumeModels`) or memory (`DummyModels`)."""

    def align_model(self, language: str, device: str) -> tuple[Any, dict]:
        raise NotImplementedError

    def asr_model(self, device: str) -> Any:
        raise NotImplementedError


# transformers imports these whenever they are installed (f5-tts's dependencies install both)
# from the modules Wav2Vec2ForCTC loads, for code the aligner never runs: scikit-learn for
# assisted generation, torchvision for image processors (≈ 6 s of a worker's start).
UNUSED_TRANSFORMERS_EXTRAS = ("_sklearn_available", "_torchvision_available")
# nltk's package __init__ imports its optional scikit-learn classifier wrapper, which imports
# scikit-learn when it can (ImportError is expected there); whisperx only splits sentences.
HIDDEN_DURING_IMPORT = ("sklearn",)


def import_alignment() -> None:
    """Import whisperx's alignment (transformers' Wav2Vec2, nltk) without the extras above:
    they are marked absent for transformers (only modules imported afterwards see it, so this
    runs before anything imports transformers' models: the worker's start), and scikit-learn
    is hidden while nltk imports, then visible again to anyone who imports it later."""
    import importlib
    import sys

    import transformers.utils.import_utils as available

    for flag in UNUSED_TRANSFORMERS_EXTRAS:
        if hasattr(available, flag):  # private flags: a renamed one is left alone (a test
            setattr(available, flag, False)  # then sees the import come back)
    hidden = [name for name in HIDDEN_DURING_IMPORT if name not in sys.modules]
    sys.modules.update(dict.fromkeys(hidden))  # None: `import sklearn` raises ImportError
    try:
        importlib.import_module("whisperx.alignment")
    finally:
        for name in hidden:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]


class VolumeModels(ModelSource):
    def __init__(self, settings: Settings):
        self.settings = settings
        use_nltk_data(manifest.require_punkt(settings))

    def align_model(self, language: str, device: str) -> tuple[Any, dict]:
        import whisperx

        source = manifest.align_model(self.settings, language)
        logger.info("loading the %s aligner %s on %s", language, source.name, device)
        if source.kind == "torchaudio":
            assert source.checkpoint is not None
            # torchaudio finds the checkpoint in model_dir and downloads nothing
            return whisperx.load_align_model(
                language, device, model_name=source.name, model_dir=str(source.checkpoint.parent)
            )
        return whisperx.load_align_model(
            language, device, model_name=source.name, model_cache_only=True
        )

    def asr_model(self, device: str) -> Any:
        import whisperx

        path = manifest.asr_model_dir(self.settings)
        logger.info("loading the ASR model %s on %s", path, device)
        return whisperx.load_model(
            str(path),
            device,
            compute_type=ASR_COMPUTE_TYPE.get(device, "float32"),
            download_root=str(manifest.hub_cache(self.settings)),
            local_files_only=True,
            vad_method="pyannote",  # its weights ship inside whisperx: nothing to download
        )


def use_nltk_data(path: Path) -> None:
    """Let whisperx's NLTK find punkt_tab at `path` even when NLTK_DATA is not set."""
    import nltk

    if str(path) in nltk.data.path:
        nltk.data.path.remove(str(path))
    nltk.data.path.insert(0, str(path))


def windowed(model: Any, kind: str) -> Any:
    """`model` computing its CTC emissions window by window on long inputs; the same
    call and return shapes as the model's own (what whisperx.align expects of its `kind`)."""
    import torch

    class Windowed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = model

        def forward(self, waveform, lengths=None):
            window = WINDOW_SAMPLES
            if waveform.shape[-1] <= window:
                if kind == "torchaudio":
                    return self.inner(waveform, lengths=lengths)
                return self.inner(waveform)
            pieces = []
            for start in range(0, waveform.shape[-1], window):
                piece = waveform[..., start : start + window]
                if piece.shape[-1] < MIN_WINDOW_SAMPLES:
                    break
                out = self.inner(piece)
                pieces.append(out[0] if kind == "torchaudio" else out.logits)
            emissions = torch.cat(pieces, dim=1)
            if kind == "torchaudio":
                return emissions, None
            return _Logits(emissions)

    return Windowed().eval()


@dataclass(frozen=True)
class _Logits:
    logits: Any  # what whisperx reads from a transformers model's output
