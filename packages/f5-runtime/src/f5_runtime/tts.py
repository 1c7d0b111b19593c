"""The F5-TTS engine: load once, plan chunks, sample them in batches, vocode, join.

Loading goes through f5-tts's own `load_model` / `load_vocoder` from the files on the volume
(models.py says where); `F5_LOAD_FORMAT=dummy` builds the same modules with random weights
and no files. `F5_TTS_MODEL=tiny` is a tiny DiT (and Vocos) for smoke tests; the test
fixtures save exactly these architectures in the real file formats.

Synthesis of long text: chunks (chunking.py) get a duration each from the reference's
speaking rate; chunks of similar duration are given the same duration and, on CUDA, sampled
as one batch (f5-tts's `CFM.sample` takes a batch; equal durations need no attention mask, so
a batched chunk is computed exactly as it would be alone), then vocoded and cross-faded. On
CPU the chunks run one after another (a batch is slower there: see `synthesize`).
"""

from __future__ import annotations

import contextlib
import io
import logging
import secrets
import threading
import time
from dataclasses import dataclass, field
from importlib.resources import files
from typing import TYPE_CHECKING, Any

import numpy as np

from f5_runtime.chunking import chunk_budget, chunk_text, nbytes, normalize, with_final_punctuation
from f5_runtime.engines import Audio, SynthesisOptions
from f5_runtime.errors import EngineError, ValidationError
from f5_runtime.reference import SAMPLE_RATE, TARGET_RMS, PreparedReference

if TYPE_CHECKING:
    import torch

    from f5_runtime.config import Settings
    from f5_runtime.device import DeviceChoice

log = logging.getLogger(__name__)

HOP = 256  # samples per mel frame (Vocos mel-24khz)
N_MELS = 100
FRAMES_PER_SECOND = SAMPLE_RATE / HOP  # 93.75
CROSS_FADE_SECONDS = 0.1  # overlap of consecutive chunks
TAIL_MARGIN_SECONDS = 0.15  # extra time per chunk so its last word is not cut off
MIN_TEXT_BYTES = 10  # shorter texts get the time of this many bytes (upstream: speed 0.3)
SAME_DURATION_TOLERANCE = 0.2  # chunks within 20 % of the longest share one (their mean) length

# The tiny test architecture: F5_TTS_MODEL=tiny; the fixtures save this one (~190k params).
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
                sample_rate=SAMPLE_RATE, n_fft=1024, hop_length=HOP, n_mels=N_MELS, padding="center"
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
            "init_args": dict(dim=dim, n_fft=1024, hop_length=HOP, padding="center"),
        },
    }


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


def randomize_zero_init(model: torch.nn.Module, seed: int = 0) -> None:
    """Random values for the layers f5-tts initialises to zero (output projection, adaptive
    norms): with them at zero a random model outputs a constant."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if any(k in name for k in ("proj_out", "norm_out.linear", "attn_norm.linear")):
                param.copy_(torch.randn(param.shape, generator=gen) * 0.02)


def build_dummy_cfm(name: str, attn_backend: str = "torch", seed: int = 0):
    """The CFM model f5-tts's load_model builds, with random weights (no checkpoint)."""
    import torch
    from f5_tts.model import CFM
    from f5_tts.model.utils import get_tokenizer

    from f5_runtime.models import packaged_f5_vocab

    upstream = import_f5_infer()
    backbone, arch = architecture(name, attn_backend)
    vocab_char_map, vocab_size = get_tokenizer(str(packaged_f5_vocab()), "custom")
    torch.manual_seed(seed)
    model = CFM(
        transformer=backbone(**arch, text_num_embeds=vocab_size, mel_dim=upstream.n_mel_channels),
        mel_spec_kwargs=dict(
            n_fft=upstream.n_fft,
            hop_length=upstream.hop_length,
            win_length=upstream.win_length,
            n_mel_channels=upstream.n_mel_channels,
            target_sample_rate=upstream.target_sample_rate,
            mel_spec_type="vocos",
        ),
        odeint_kwargs=dict(method="euler"),
        vocab_char_map=vocab_char_map,
    )
    randomize_zero_init(model, seed)
    return model.eval()


def build_vocos(config: dict[str, Any]):
    from vocos import Vocos
    from vocos.pretrained import instantiate_class

    return Vocos(
        feature_extractor=instantiate_class((), config["feature_extractor"]),
        backbone=instantiate_class((), config["backbone"]),
        head=instantiate_class((), config["head"]),
    ).eval()


@contextlib.contextmanager
def _quiet_stdout(what: str):
    """f5-tts's loaders print; keep the worker's stdout for logs and say it at debug level."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        yield
    if buf.getvalue().strip():
        log.debug("%s: %s", what, " | ".join(buf.getvalue().split("\n")))


def load_models(settings: Settings, choice: DeviceChoice):
    """(CFM, vocoder) on the chosen device: from the volume, or random (F5_LOAD_FORMAT=dummy)."""
    name = settings.tts_model
    if settings.load_format == "dummy":
        model = build_dummy_cfm(name, choice.attn_backend).to(choice.device, choice.torch_dtype())
        vocoder = build_vocos(
            vocos_config(**(TINY_VOCOS_SIZE if name == "tiny" else REAL_VOCOS_SIZE))
        )
        log.warning("F5_LOAD_FORMAT=dummy: %s with RANDOM weights; the audio is noise", name)
        return model, vocoder.to(choice.device)
    from f5_runtime import models

    upstream = import_f5_infer()
    checkpoint, vocab = models.tts_checkpoint(settings)
    backbone, arch = architecture(name, choice.attn_backend)
    with _quiet_stdout("load_model"):
        model = upstream.load_model(
            backbone,
            arch,
            str(checkpoint),
            mel_spec_type="vocos",
            vocab_file=str(vocab),
            device=choice.device,
        )
    with _quiet_stdout("load_vocoder"):
        vocoder = upstream.load_vocoder(
            "vocos",
            is_local=True,
            local_path=str(models.vocoder_dir(settings)),
            device=choice.device,
        )
    return model.eval(), vocoder


# ---------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class ChunkPlan:
    text: str  # the words as the user wrote them (what the aligner times)
    model_text: str  # what the model reads (final punctuation added to the last chunk)
    frames: int  # mel frames generated after the reference


@dataclass(frozen=True)
class ChunkAudio:
    plan: ChunkPlan
    samples: np.ndarray  # this chunk's generated audio, 24 kHz
    offset: float  # seconds from the start of the output where this chunk starts


@dataclass(frozen=True)
class Synthesis:
    audio: Audio
    chunks: list[ChunkAudio]
    seed: int
    batches: int  # model.sample calls made
    timings: dict[str, float] = field(default_factory=dict)


def plan_chunks(text: str, ref: PreparedReference, options: SynthesisOptions) -> list[ChunkPlan]:
    """Chunks and their durations (frames), the same whether sampled batched or one by one."""
    text = normalize(text)
    if not text:
        raise ValidationError("text is empty: send the words to speak")
    ref_text = ref.model_text()
    frames_per_byte = (len(ref.samples) // HOP) / nbytes(ref_text)
    tail = TAIL_MARGIN_SECONDS * FRAMES_PER_SECOND

    def natural(model_text: str, speed: float) -> float:
        return max(nbytes(model_text), MIN_TEXT_BYTES) * frames_per_byte / speed + tail

    speed = options.speed
    target = options.target_duration
    if target is not None:
        if target <= 0:
            raise ValidationError("target_duration must be positive (seconds)")
        # The speaking rate that fits the text into the target; it also sizes the chunks.
        speed = min(
            max(natural(with_final_punctuation(text), 1.0) / FRAMES_PER_SECOND / target, 0.25), 4.0
        )
    chunks = chunk_text(text, chunk_budget(ref_text, ref.seconds, speed))
    model_texts = [*chunks[:-1], with_final_punctuation(chunks[-1])]
    frames = [natural(t, speed) for t in model_texts]
    if target is not None:
        fade = CROSS_FADE_SECONDS * (len(chunks) - 1)
        scale = (target + fade) * FRAMES_PER_SECOND / sum(frames)
        frames = [f * scale for f in frames]
    frames = _same_durations(frames)
    return [
        ChunkPlan(c, m, max(1, round(f)))
        for c, m, f in zip(chunks, model_texts, frames, strict=True)
    ]


def _same_durations(frames: list[float]) -> list[float]:
    """Chunks whose lengths differ by less than the tolerance get their mean length, so they
    can share a batch without padding (total length is kept)."""
    order = sorted(range(len(frames)), key=lambda i: -frames[i])
    out = list(frames)
    group: list[int] = []
    for i in [*order, None]:
        if (
            i is not None
            and group
            and (frames[group[0]] - frames[i]) <= SAME_DURATION_TOLERANCE * frames[group[0]]
        ):
            group.append(i)
            continue
        if group:
            mean = sum(frames[j] for j in group) / len(group)
            for j in group:
                out[j] = mean
        group = [i] if i is not None else []
    return out


def cross_fade_join(waves: list[np.ndarray], fade: int) -> tuple[np.ndarray, list[int]]:
    """Concatenate with linear cross-fades; returns the signal and each part's start sample."""
    out = waves[0].astype(np.float32)
    starts = [0]
    for wave in waves[1:]:
        n = min(fade, len(out), len(wave))
        starts.append(len(out) - n)
        if n == 0:
            out = np.concatenate([out, wave])
            continue
        ramp = np.linspace(0.0, 1.0, n, dtype=np.float32)
        mixed = out[-n:] * (1 - ramp) + wave[:n] * ramp
        out = np.concatenate([out[:-n], mixed, wave[n:]])
    return out, starts


# ---------------------------------------------------------------------------- the engine


class TTSEngine:
    """The loaded model and vocoder; one sampling at a time (a lock), any number of callers.
    `batch_frames` (F5_TTS_BATCH_FRAMES) bounds the mel frames, batch x length, sampled at once;
    out of memory halves the batch."""

    def __init__(self, model, vocoder, choice: DeviceChoice, name: str, batch_frames: int):
        self.model = model
        self.vocoder = vocoder
        self.choice = choice
        self.name = name
        self.batch_frames = batch_frames
        self._lock = threading.Lock()

    @classmethod
    def load(cls, settings: Settings, choice: DeviceChoice) -> TTSEngine:
        started = time.perf_counter()
        model, vocoder = load_models(settings, choice)
        engine = cls(model, vocoder, choice, settings.tts_model, settings.tts_batch_frames)
        log.info(
            "F5-TTS %s loaded in %.1f s on %s (%s, attention %s)",
            settings.tts_model,
            time.perf_counter() - started,
            choice.name,
            choice.dtype,
            choice.attn_backend,
        )
        return engine

    def synthesize(
        self,
        text: str,
        ref: PreparedReference,
        options: SynthesisOptions,
        *,
        batched: bool | None = None,
    ) -> Synthesis:
        """`batched`: sample chunks of one length together; default on CUDA only. On CPU a
        batch is compute-bound and measured slower than one chunk at a time (bigger tensors,
        same FLOPs; docs/benchmarks.md), so chunks run one after another there."""
        if batched is None:
            batched = self.choice.is_cuda
        plans = plan_chunks(text, ref, options)
        seed = options.seed if options.seed is not None else secrets.randbelow(2**31)
        ref_frames = len(ref.samples) // HOP
        if batched:
            groups: dict[int, list[int]] = {}
            for i, p in enumerate(plans):
                groups.setdefault(p.frames, []).append(i)
            per_batch = [max(1, self.batch_frames // (ref_frames + f)) for f in groups]
            batches = [
                idx[k : k + size]
                for idx, size in zip(groups.values(), per_batch, strict=True)
                for k in range(0, len(idx), size)
            ]
        else:
            batches = [[i] for i in range(len(plans))]
        waves: list[np.ndarray | None] = [None] * len(plans)
        timings = {"generate": 0.0, "vocode": 0.0}
        calls = 0
        with self._lock:
            for batch in batches:
                calls += self._run(batch, plans, ref, options, seed, waves, timings)
        fade = int(CROSS_FADE_SECONDS * SAMPLE_RATE)
        samples, starts = cross_fade_join([w for w in waves if w is not None], fade)
        if options.target_duration is not None:  # exact length for dubbing
            want = round(options.target_duration * SAMPLE_RATE)
            samples = np.pad(samples, (0, max(0, want - len(samples))))[:want]
        chunks = [
            ChunkAudio(plan, wave, start / SAMPLE_RATE)
            for plan, wave, start in zip(plans, waves, starts, strict=True)
        ]
        return Synthesis(Audio(samples, SAMPLE_RATE), chunks, seed, calls, timings)

    def _run(self, batch, plans, ref, options, seed, waves, timings) -> int:
        """Sample one batch, halving it on out-of-memory; returns the number of calls.

        The retry happens after the `except` block has been left: inside it the exception's
        traceback keeps the failed attempt's tensors alive (so the retry would mostly run out
        of memory again), and an error raised there would carry the OOM as its `__context__`,
        which `worker.is_broken` reads as a broken GPU. Only the final outcome counts."""
        import torch

        pending = [batch]
        calls = 0
        while pending:
            part = pending.pop(0)
            try:
                self._sample(part, plans, ref, options, seed, waves, timings)
                calls += 1
                continue
            except torch.OutOfMemoryError:
                pass  # handled below, once the failed attempt's frames are released
            if self.choice.is_cuda:
                torch.cuda.empty_cache()
            if len(part) == 1:
                raise EngineError(
                    "out of GPU memory for one chunk: send shorter text (or lower "
                    "F5_TTS_BATCH_FRAMES if other work shares this GPU)"
                )
            log.warning("out of memory for a batch of %d chunks: halving it", len(part))
            half = len(part) // 2
            pending[:0] = [part[:half], part[half:]]
        return calls

    def _sample(self, batch, plans, ref: PreparedReference, options, seed, waves, timings) -> None:
        import torch
        from f5_tts.model.utils import convert_char_to_pinyin

        device = self.choice.device
        started = time.perf_counter()
        audio = torch.from_numpy(ref.samples).to(device)[None]
        rms = max(ref.rms, 1e-6)
        if rms < TARGET_RMS:  # as upstream: quiet references raised, output lowered back
            audio = audio * (TARGET_RMS / rms)
        ref_frames = audio.shape[-1] // HOP
        frames = plans[batch[0]].frames
        texts = convert_char_to_pinyin([ref.model_text() + plans[i].model_text for i in batch])
        fork = [torch.device(device)] if self.choice.is_cuda else []
        with torch.inference_mode(), torch.random.fork_rng(devices=fork):
            cond = self.model.mel_spec(audio).permute(0, 2, 1).expand(len(batch), -1, -1)
            mel, _ = self.model.sample(
                cond=cond,
                text=texts,
                duration=ref_frames + frames,
                steps=options.nfe_steps,
                cfg_strength=options.cfg_strength,
                sway_sampling_coef=options.sway_sampling_coef,
                seed=seed,  # seeds each chunk's noise; the global RNG is restored by fork_rng
            )
            mel = mel[:, ref_frames : ref_frames + frames].float().permute(0, 2, 1)
            if self.choice.is_cuda:
                torch.cuda.synchronize()
            vocode_start = time.perf_counter()
            wave = self.vocoder.decode(mel)
            if rms < TARGET_RMS:
                wave = wave * (rms / TARGET_RMS)
            wave = wave.float().cpu().numpy()
        timings["generate"] += vocode_start - started
        timings["vocode"] += time.perf_counter() - vocode_start
        for row, i in enumerate(batch):
            waves[i] = np.ascontiguousarray(wave[row], dtype=np.float32)
