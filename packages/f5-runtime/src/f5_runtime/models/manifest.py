"""The model manifest, where each model lives on the volume, and `f5-runtime fetch-models`.

Every model the runtime loads is in `all_models(settings)`: Hugging Face repos at pinned
revisions (`PINNED_REVISIONS`) into HF_HOME, torchaudio's English aligner into TORCH_HOME,
NLTK's punkt_tab into NLTK_DATA. `fetch-models` downloads what is missing under the models
lock and records what it got (revision, size, sha256 of every file) in
`<models>/models.lock.json`; later runs verify against that record, re-fetch a corrupted file
(and say so) and never download twice. A repo without a pinned revision is fetched at its
current `main` once and held at that commit by the lock from then on (like uv.lock).
The fetching itself, and the command, are in f5_runtime.models.fetch.

At request time the runtime is offline: the path functions below (`tts_checkpoint`,
`vocoder_dir`, `asr_model_dir`, `align_model`, `require_punkt`) only look at the volume and
raise ModelMissingError naming the model and the command that fetches it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from f5_runtime.config import Settings
from f5_runtime.errors import ConfigError, ModelMissingError, ValidationError

logger = logging.getLogger(__name__)

LOCK_FILE = "models.lock.json"  # under settings.models_dir
LOCK_VERSION = 1
LOCK_TIMEOUT = 6 * 3600  # seconds to wait for another fetch-models to finish
CHUNK = 1 << 20  # bytes per read when hashing or downloading
FETCH_HINT = "run `f5-runtime fetch-models` (or `f5-bootstrap provision`)"

# The one table of pinned Hub revisions (commits seen in public HF caches for these files).
# Repos not listed here are fetched at `main` once and then held by models.lock.json.
PINNED_REVISIONS = {
    "SWivid/F5-TTS": "84e5a410d9cead4de2f847e7c9369a6440bdfaca",
    "SWivid/E2-TTS": "98016df3e24487aad803aff506335caba8414195",
    "charactr/vocos-mel-24khz": "0feb3fdd929bcd6649e0e7c5a688cf7dd012ef21",
    "Systran/faster-whisper-large-v2": "f0fe81560cb8b68660e564f55dd99207059c092e",
}
# TTS model -> (repo, checkpoint, vocab file in the repo or None for f5-tts's packaged vocab)
TTS_FILES = {
    "F5TTS_v1_Base": (
        "SWivid/F5-TTS",
        "F5TTS_v1_Base/model_1250000.safetensors",
        "F5TTS_v1_Base/vocab.txt",
    ),
    "E2TTS_Base": ("SWivid/E2-TTS", "E2TTS_Base/model_1200000.safetensors", None),
}


def tts_files(tts_model: str) -> str:
    """The TTS_FILES entry a model loads: `tiny` (tests, smoke checks) has no repo of its own
    and is stored where F5TTS_v1_Base's files go, so fetch-models and loading agree."""
    return "F5TTS_v1_Base" if tts_model == "tiny" else tts_model


VOCODER_REPO = "charactr/vocos-mel-24khz"
VOCODER_FILES = ("config.yaml", "pytorch_model.bin")
# faster-whisper's own download filter (faster_whisper.utils.download_model)
ASR_PATTERNS = (
    "config.json",
    "preprocessor_config.json",
    "model.bin",
    "tokenizer.json",
    "vocabulary.*",
)
# a transformers wav2vec2 CTC model + processor; the weights are chosen from the repo listing
ALIGN_HF_PATTERNS = ("*.json", "vocab.txt")
ALIGN_HF_WEIGHTS = ("model.safetensors", "pytorch_model.bin")
TORCHAUDIO_MODELS_URL = "https://download.pytorch.org/torchaudio/models"
PUNKT_URL = (
    "https://raw.githubusercontent.com/nltk/nltk_data/gh-pages/packages/tokenizers/punkt_tab.zip"
)
PUNKT_FILES = ("collocations.tab", "sent_starters.txt", "abbrev_types.txt", "ortho_context.tab")


# ---------------------------------------------------------------------------------------------
# The manifest
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HubModel:
    """Files of one Hugging Face repo, stored in the HF cache layout under HF_HOME/hub."""

    name: str  # manifest key, e.g. "tts:F5TTS_v1_Base"
    repo_id: str
    revision: str | None  # pinned commit; None: `main` at the first fetch, then the lock's
    files: tuple[str, ...] = ()  # exact files; empty: the repo listing filtered by `patterns`
    patterns: tuple[str, ...] = ()
    weights: tuple[str, ...] = ()  # the first of these that the repo has is fetched too


@dataclass(frozen=True)
class UrlModel:
    """One file from a URL, stored at `dest`; a zip is also extracted beside it."""

    name: str
    url: str
    dest: Path
    extract_to: Path | None = None  # a zip's contents go here
    expect: tuple[str, ...] = field(default=())  # files the extraction must contain


Model = HubModel | UrlModel


def hub_cache(settings: Settings) -> Path:
    return settings.hf_home / "hub"


def repo_cache_dir(settings: Settings, repo_id: str) -> Path:
    """Where huggingface_hub caches `repo_id` (refs/, blobs/, snapshots/)."""
    return hub_cache(settings) / f"models--{repo_id.replace('/', '--')}"


def snapshot_dir(settings: Settings, repo_id: str, revision: str) -> Path:
    return repo_cache_dir(settings, repo_id) / "snapshots" / revision


def asr_repo(asr_model: str) -> str | None:
    """The Hub repo of F5_ASR_MODEL ("large-v2", "org/repo"); None for a local directory."""
    if Path(asr_model).expanduser().is_dir() or asr_model.startswith(("/", ".", "~")):
        return None
    if "/" in asr_model:
        return asr_model
    from faster_whisper.utils import _MODELS  # faster-whisper's own name -> repo table

    if asr_model not in _MODELS:
        raise ConfigError(
            f"F5_ASR_MODEL={asr_model!r}: use one of {', '.join(_MODELS)}, a Hub repo id or a "
            "local CTranslate2 directory"
        )
    return _MODELS[asr_model]


@dataclass(frozen=True)
class AlignSource:
    """Where the aligner of one language comes from: a torchaudio bundle (its checkpoint in
    `checkpoint`) or a transformers model in a local directory or a Hub repo."""

    language: str
    kind: str  # "torchaudio" | "huggingface"
    name: str  # bundle name, repo id or local directory
    checkpoint: Path | None = None  # torchaudio: the .pth file under TORCH_HOME
    url: str | None = None  # torchaudio: where the checkpoint is downloaded from


def align_source(settings: Settings, language: str) -> AlignSource:
    """WhisperX's default aligner for `language`, unless F5_ALIGN_MODELS names another."""
    override = dict(settings.align_models).get(language)
    if override:
        if Path(override).expanduser().is_dir():
            return AlignSource(language, "huggingface", str(Path(override).expanduser()))
        return _named_align_source(settings, language, override)
    from whisperx.alignment import DEFAULT_ALIGN_MODELS_HF, DEFAULT_ALIGN_MODELS_TORCH

    name = DEFAULT_ALIGN_MODELS_TORCH.get(language) or DEFAULT_ALIGN_MODELS_HF.get(language)
    if name is None:
        known = sorted({*DEFAULT_ALIGN_MODELS_TORCH, *DEFAULT_ALIGN_MODELS_HF})
        raise ValidationError(
            f"no word aligner for language {language!r}: use one of {', '.join(known)}, or "
            f"set F5_ALIGN_MODELS={language}=<wav2vec2 CTC repo on the Hub>"
        )
    return _named_align_source(settings, language, name)


def _named_align_source(settings: Settings, language: str, name: str) -> AlignSource:
    import torchaudio

    if name in torchaudio.pipelines.__all__:
        path = getattr(torchaudio.pipelines, name)._path  # the file torchaudio downloads
        checkpoint = settings.torch_home / "hub" / "checkpoints" / Path(path).name
        return AlignSource(
            language, "torchaudio", name, checkpoint, f"{TORCHAUDIO_MODELS_URL}/{path}"
        )
    return AlignSource(language, "huggingface", name)


def all_models(settings: Settings) -> list[Model]:
    """Every model this configuration loads (nothing for F5_LOAD_FORMAT=dummy)."""
    if settings.load_format == "dummy":
        return []
    models: list[Model] = []
    if tts_files(settings.tts_model) in TTS_FILES:
        repo, checkpoint, vocab = TTS_FILES[tts_files(settings.tts_model)]
        files = (checkpoint, vocab) if vocab else (checkpoint,)
        models.append(HubModel(f"tts:{settings.tts_model}", repo, PINNED_REVISIONS[repo], files))
        models.append(
            HubModel("vocoder", VOCODER_REPO, PINNED_REVISIONS[VOCODER_REPO], VOCODER_FILES)
        )
    repo = asr_repo(settings.asr_model)
    if repo:
        models.append(HubModel("asr", repo, PINNED_REVISIONS.get(repo), patterns=ASR_PATTERNS))
    for language in settings.languages:
        try:
            source = align_source(settings, language)
        except ValidationError as exc:
            raise ConfigError(f"F5_LANGUAGES: {exc}") from None
        if source.kind == "torchaudio":
            assert source.url and source.checkpoint
            models.append(UrlModel(f"align:{language}", source.url, source.checkpoint))
        elif not Path(source.name).is_dir():
            models.append(
                HubModel(
                    f"align:{language}",
                    source.name,
                    PINNED_REVISIONS.get(source.name),
                    patterns=ALIGN_HF_PATTERNS,
                    weights=ALIGN_HF_WEIGHTS,
                )
            )
    punkt = settings.nltk_data / "tokenizers"
    models.append(
        UrlModel(
            "nltk:punkt_tab",
            PUNKT_URL,
            punkt / "punkt_tab.zip",
            punkt,
            tuple(f"punkt_tab/english/{f}" for f in PUNKT_FILES),
        )
    )
    return models


# ---------------------------------------------------------------------------------------------
# Local paths (request time: offline, the volume only)
# ---------------------------------------------------------------------------------------------


def missing(what: str, path: Path) -> ModelMissingError:
    return ModelMissingError(f"{what} is not on the volume at {path}: {FETCH_HINT}")


def _revision(settings: Settings, name: str, repo_id: str) -> str | None:
    pinned = PINNED_REVISIONS.get(repo_id)
    if pinned:
        return pinned
    record = read_lock(settings).get(name)
    return record.get("revision") if record and record.get("repo") == repo_id else None


def hub_snapshot(settings: Settings, name: str, repo_id: str, required: Iterable[str]) -> Path:
    """The local snapshot of `repo_id` with every `required` file, else ModelMissingError."""
    revision = _revision(settings, name, repo_id)
    if revision is None:
        raise missing(f"{name} ({repo_id})", repo_cache_dir(settings, repo_id))
    snapshot = snapshot_dir(settings, repo_id, revision)
    for file in required:
        if not (snapshot / file).is_file():
            raise missing(f"{name} ({repo_id}@{revision[:10]}, {file})", snapshot / file)
    return snapshot


def tts_checkpoint(settings: Settings) -> tuple[Path, Path]:
    """(checkpoint, vocab.txt) of the configured TTS model (F5_TTS_MODEL)."""
    if tts_files(settings.tts_model) not in TTS_FILES:
        raise ModelMissingError(f"F5_TTS_MODEL={settings.tts_model!r} has no files to load")
    repo, checkpoint, vocab = TTS_FILES[tts_files(settings.tts_model)]
    name = f"tts:{settings.tts_model}"
    snapshot = hub_snapshot(settings, name, repo, (checkpoint, vocab) if vocab else (checkpoint,))
    return snapshot / checkpoint, snapshot / vocab if vocab else packaged_f5_vocab()


def packaged_f5_vocab() -> Path:
    """f5-tts's own vocab.txt (what `load_model` uses when given no vocab file)."""
    spec = importlib.util.find_spec("f5_tts")
    if spec is None or not spec.submodule_search_locations:
        raise ModelMissingError("the f5-tts package is not installed in this environment")
    return Path(next(iter(spec.submodule_search_locations))) / "infer" / "examples" / "vocab.txt"


def vocoder_dir(settings: Settings) -> Path:
    """The directory with Vocos's config.yaml + pytorch_model.bin."""
    return hub_snapshot(settings, "vocoder", VOCODER_REPO, VOCODER_FILES)


def asr_model_dir(settings: Settings) -> Path:
    """The CTranslate2 Whisper directory for F5_ASR_MODEL (a local directory as it is)."""
    repo = asr_repo(settings.asr_model)
    if repo is None:
        path = Path(settings.asr_model).expanduser()
        if not (path / "model.bin").is_file():
            raise ModelMissingError(f"F5_ASR_MODEL={path} has no CTranslate2 model.bin")
        return path
    return hub_snapshot(settings, "asr", repo, ("model.bin", "config.json"))


def align_model(settings: Settings, language: str) -> AlignSource:
    """The aligner for `language`, checked to be on the volume: a torchaudio bundle whose
    checkpoint is in TORCH_HOME, or a local transformers directory."""
    source = align_source(settings, language)
    if source.kind == "torchaudio":
        assert source.checkpoint is not None
        if not source.checkpoint.is_file():
            raise missing(f"align:{language} ({source.name})", source.checkpoint)
        return source
    if Path(source.name).is_dir():
        return source
    snapshot = hub_snapshot(settings, f"align:{language}", source.name, ("config.json",))
    return AlignSource(language, "huggingface", str(snapshot))


def require_punkt(settings: Settings) -> Path:
    """NLTK_DATA with punkt_tab in it (whisperx splits sentences with it)."""
    english = settings.nltk_data / "tokenizers" / "punkt_tab" / "english"
    if not english.is_dir():
        raise missing("nltk:punkt_tab", english)
    return settings.nltk_data


# ---------------------------------------------------------------------------------------------
# The lock file: what was fetched, so every worker serves the same bytes
# ---------------------------------------------------------------------------------------------


def lock_path(settings: Settings) -> Path:
    return settings.models_dir / LOCK_FILE


def read_lock(settings: Settings) -> dict[str, dict]:
    try:
        data = json.loads(lock_path(settings).read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        logger.warning("ignoring unreadable %s: %s", lock_path(settings), exc)
        return {}
    return data.get("models", {}) if data.get("version") == LOCK_VERSION else {}


def write_lock(settings: Settings, records: dict[str, dict]) -> None:
    """Write the lock atomically: a reader sees the old file or the new one, never half."""
    path = lock_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    body = {
        "version": LOCK_VERSION,
        "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "models": dict(sorted(records.items())),
    }
    staging.write_text(json.dumps(body, indent=2) + "\n")
    os.replace(staging, path)


def file_digest(path: Path) -> dict[str, int | str]:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)
    return {"size": path.stat().st_size, "sha256": digest.hexdigest()}
