"""The model manifest, where each model lives on the volume, and `f5-runtime fetch-models`.

Every model the runtime loads is in `manifest(settings)`: Hugging Face repos at pinned
revisions (`PINNED_REVISIONS`) into HF_HOME, torchaudio's English aligner into TORCH_HOME,
NLTK's punkt_tab into NLTK_DATA. `fetch-models` downloads what is missing under the models
lock and records what it got (revision, size, sha256 of every file) in
`<models>/models.lock.json`; later runs verify against that record, re-fetch a corrupted file
(and say so) and never download twice. A repo without a pinned revision is fetched at its
current `main` once and held at that commit by the lock from then on (like uv.lock).

At request time the runtime is offline: the path functions below (`tts_checkpoint`,
`vocoder_dir`, `asr_model_dir`, `align_model`, `require_punkt`) only look at the volume and
raise ModelMissingError naming the model and the command that fetches it.
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import hashlib
import importlib.util
import json
import logging
import os
import re
import shutil
import socket
import sys
import time
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from f5_runtime.config import Settings
from f5_runtime.errors import ConfigError, ModelMissingError, RuntimeFailure, ValidationError

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


def snapshot_dir(settings: Settings, repo_id: str, revision: str) -> Path:
    return hub_cache(settings) / f"models--{repo_id.replace('/', '--')}" / "snapshots" / revision


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


def manifest(settings: Settings) -> list[Model]:
    """Every model this configuration loads (nothing for F5_LOAD_FORMAT=dummy)."""
    if settings.load_format == "dummy":
        return []
    models: list[Model] = []
    if settings.tts_model in TTS_FILES:
        repo, checkpoint, vocab = TTS_FILES[settings.tts_model]
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
    repo_dir = hub_cache(settings) / f"models--{repo_id.replace('/', '--')}"
    if revision is None:
        raise missing(f"{name} ({repo_id})", repo_dir)
    snapshot = snapshot_dir(settings, repo_id, revision)
    for file in required:
        if not (snapshot / file).is_file():
            raise missing(f"{name} ({repo_id}@{revision[:10]}, {file})", snapshot / file)
    return snapshot


def tts_checkpoint(settings: Settings) -> tuple[Path, Path]:
    """(checkpoint, vocab.txt) of the configured TTS model (F5_TTS_MODEL)."""
    if settings.tts_model not in TTS_FILES:
        raise ModelMissingError(f"F5_TTS_MODEL={settings.tts_model!r} has no files to load")
    repo, checkpoint, vocab = TTS_FILES[settings.tts_model]
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


# ---------------------------------------------------------------------------------------------
# Fetching
# ---------------------------------------------------------------------------------------------


class FetchError(RuntimeFailure):
    """A model could not be fetched or does not match the lock."""


@dataclass
class Report:
    """What one fetch-models run did, for the summary line and the tests."""

    downloaded: list[str] = field(default_factory=list)  # "model: file"
    verified: list[str] = field(default_factory=list)
    corrupted: list[str] = field(default_factory=list)  # found bad, removed (and re-fetched)
    missing: list[str] = field(default_factory=list)  # verify-only: not there

    @property
    def ok(self) -> bool:
        return not self.missing


class Fetcher:
    """Brings every model of the manifest onto the volume; `offline` only verifies."""

    def __init__(self, settings: Settings, offline: bool = False, out=print):
        self.settings = settings
        self.offline = offline
        self.out = out
        self.records = read_lock(settings)
        self.report = Report()

    def run(self, models: list[Model]) -> Report:
        for n, model in enumerate(models, 1):
            self.out(f"[{n}/{len(models)}] {model.name}: {_describe(model)}")
            if isinstance(model, HubModel):
                self._hub(model)
            else:
                self._url(model)
            if not self.offline:
                write_lock(self.settings, self.records)  # progress survives an interruption
        return self.report

    # --- one file, whatever its source ---

    def _check(self, label: str, path: Path, expected: dict | None) -> bool:
        """True when `path` is there and matches the lock; a mismatch is removed, reported."""
        if not path.is_file():
            if self.offline:
                self.report.missing.append(label)
                self.out(f"  missing   {label}")
            return False
        if expected is None:
            return False  # there but never recorded: hash it after the (no-op) fetch
        actual = file_digest(path)
        if actual == {"size": expected["size"], "sha256": expected["sha256"]}:
            self.report.verified.append(label)
            self.out(f"  verified  {label} ({_size(actual['size'])})")
            return True
        self.report.corrupted.append(label)
        self.out(
            f"  CORRUPTED {label}: size {actual['size']} sha256 {actual['sha256'][:12]}, "
            f"expected size {expected['size']} sha256 {expected['sha256'][:12]}"
            + ("" if self.offline else "; removing and fetching it again")
        )
        if self.offline:
            self.report.missing.append(label)
        else:
            _remove_cached(path)
        return False

    def _record(self, label: str, path: Path, expected: dict | None, seconds: float) -> dict:
        actual = file_digest(path)
        if expected and actual["sha256"] != expected["sha256"]:
            _remove_cached(path)
            raise FetchError(
                f"{label}: the download's sha256 {actual['sha256'][:12]} differs from "
                f"{expected['sha256'][:12]} in {lock_path(self.settings)} for the same "
                "revision; the source changed or the transfer is broken (removed it; retry)"
            )
        blob = Path(os.path.realpath(path)).name  # HF names LFS blobs by their sha256
        if re.fullmatch(r"[0-9a-f]{64}", blob) and blob != actual["sha256"]:
            _remove_cached(path)
            raise FetchError(f"{label}: download is corrupted (sha256 differs from the Hub's)")
        if seconds >= 0:
            self.report.downloaded.append(label)
            self.out(f"  fetched   {label} ({_size(actual['size'])} in {seconds:.1f} s)")
        else:  # was already there, now recorded
            self.report.verified.append(label)
            self.out(f"  recorded  {label} ({_size(actual['size'])})")
        return actual

    # --- Hugging Face repos ---

    def _hub(self, model: HubModel) -> None:
        record = self.records.get(model.name)
        if record and record.get("repo") != model.repo_id:
            record = None  # the configuration now names another repo
        revision = model.revision or (record or {}).get("revision")
        if record and revision != record.get("revision"):
            record = None  # a new pin: fetch and record afresh
        files = list((record or {}).get("files", {})) or list(model.files)
        if not files and self.offline:
            self.report.missing.append(model.name)
            self.out(f"  missing   {model.name}: never fetched")
            return
        if not files or revision is None:
            revision, files = self._resolve(model, revision)
        expected_files = (record or {}).get("files", {})
        done: dict[str, dict] = {}
        for file in files:
            label = f"{model.name}: {file}"
            path = snapshot_dir(self.settings, model.repo_id, revision) / file
            expected = expected_files.get(file)
            if self._check(label, path, expected):
                done[file] = expected
                continue
            if self.offline:
                continue
            started = time.monotonic()
            fetched_before = path.is_file()
            path = Path(self._hf_download(model.repo_id, file, revision))
            done[file] = self._record(
                label, path, expected, -1 if fetched_before else time.monotonic() - started
            )
        if not self.offline:
            self.records[model.name] = {
                "source": "huggingface",
                "repo": model.repo_id,
                "revision": revision,
                "files": done,
            }

    def _resolve(self, model: HubModel, revision: str | None) -> tuple[str, list[str]]:
        """The commit and file list of `model` from the Hub (one API call)."""
        from huggingface_hub import HfApi

        try:
            info = HfApi(endpoint=self.settings.hf_endpoint).model_info(
                model.repo_id, revision=revision or "main"
            )
        except Exception as exc:  # network, 404, auth, HF_HUB_OFFLINE=1: name the repo
            raise FetchError(f"could not list {model.repo_id}@{revision or 'main'}: {exc}") from exc
        names = [s.rfilename for s in info.siblings or []]
        if model.files:
            files = list(model.files)
        else:
            files = [n for n in names if any(fnmatch.fnmatch(n, p) for p in model.patterns)]
            weights = next((w for w in model.weights if w in names), None)
            if model.weights and weights is None:
                raise FetchError(f"{model.repo_id} has none of {', '.join(model.weights)}")
            files += [weights] if weights else []
        if not files:
            raise FetchError(f"{model.repo_id}@{info.sha} has no files matching {model.patterns}")
        return info.sha, sorted(set(files))

    def _hf_download(self, repo_id: str, file: str, revision: str) -> str:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.utils import disable_progress_bars

        if not sys.stderr.isatty():
            disable_progress_bars()  # a log file gets our one line per file instead
        try:
            return hf_hub_download(
                repo_id,
                file,
                revision=revision,
                cache_dir=hub_cache(self.settings),
                endpoint=self.settings.hf_endpoint,
            )
        except Exception as exc:  # network, 404, auth: one message naming the file
            raise FetchError(f"could not fetch {repo_id}@{revision[:10]}/{file}: {exc}") from exc

    # --- plain URLs (torchaudio checkpoints, NLTK data) ---

    def _url(self, model: UrlModel) -> None:
        record = self.records.get(model.name)
        if record and record.get("url") != model.url:
            record = None
        expected = (record or {}).get("files", {}).get(model.dest.name)
        label = f"{model.name}: {model.dest.name}"
        if self._check(label, model.dest, expected):
            digest = expected
        elif self.offline:
            return
        else:
            started = time.monotonic()
            fetched_before = model.dest.is_file()
            if not fetched_before:
                download_url(self._mirrored(model.url), model.dest)
            digest = self._record(
                label, model.dest, expected, -1 if fetched_before else time.monotonic() - started
            )
        if model.extract_to is not None:
            self._extract(model)
        if not self.offline:
            self.records[model.name] = {
                "source": "url",
                "url": model.url,
                "files": {model.dest.name: digest},
            }

    def _extract(self, model: UrlModel) -> None:
        assert model.extract_to is not None
        if all((model.extract_to / f).is_file() for f in model.expect):
            return
        if self.offline:
            self.report.missing.append(f"{model.name}: extracted files")
            return
        with zipfile.ZipFile(model.dest) as archive:
            for member in archive.namelist():  # no absolute paths or `..` out of the target
                target = (model.extract_to / member).resolve()
                if not target.is_relative_to(model.extract_to.resolve()):
                    raise FetchError(f"{model.dest}: unsafe path {member!r} in the archive")
            archive.extractall(model.extract_to)
        absent = [f for f in model.expect if not (model.extract_to / f).is_file()]
        if absent:
            raise FetchError(f"{model.dest} lacks {', '.join(absent)}")
        self.out(f"  extracted {model.dest.name} into {model.extract_to}")

    def _mirrored(self, url: str) -> str:
        mirror = self.settings.models_mirror
        if not mirror:
            return url
        parts = urllib.parse.urlsplit(url)
        return f"{mirror}/{parts.netloc}{parts.path}"


def download_url(url: str, dest: Path, timeout: float = 60.0) -> None:
    """Download to `dest.part`, resuming a previous partial download, then rename."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            resumed = response.status == 206
            with part.open("ab" if resumed else "wb") as f:
                shutil.copyfileobj(response, f, CHUNK)
    except OSError as exc:
        raise FetchError(f"could not fetch {url}: {exc} (partial file kept to resume)") from exc
    os.replace(part, dest)


def _remove_cached(path: Path) -> None:
    """Remove a file and, in the HF cache, the blob its snapshot link points to."""
    target = Path(os.path.realpath(path))
    for p in (path, target):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


def _describe(model: Model) -> str:
    if isinstance(model, HubModel):
        return f"{model.repo_id}@{(model.revision or 'locked/main')[:10]}"
    return model.url


def _size(n: int | str) -> str:
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


# ---------------------------------------------------------------------------------------------
# `f5-runtime fetch-models`
# ---------------------------------------------------------------------------------------------


def fetch_models(
    settings: Settings, offline: bool = False, take_lock: bool = True, out=print
) -> Report:
    """Fetch (or, offline, verify) every model of the manifest, under the models lock."""
    import filelock

    models = manifest(settings)
    if not models:
        out("nothing to fetch: F5_LOAD_FORMAT=dummy builds every model in memory")
        return Report()
    lock_file = settings.locks_dir / "models.lock"
    if take_lock and (holder := _held_by_parent(lock_file)):
        out(f"{lock_file} is held by the process that started this one ({holder}): using it")
        take_lock = False
    lock = filelock.FileLock(str(lock_file))
    with contextlib.ExitStack() as stack:
        if take_lock:
            settings.locks_dir.mkdir(parents=True, exist_ok=True)
            _acquire(lock, out)
            stack.callback(lock.release)
        return Fetcher(settings, offline=offline, out=out).run(models)


def _held_by_parent(lock_file: Path) -> str | None:
    """f5-bootstrap takes the models lock itself and runs `fetch-models` under it; it says
    who holds the lock in `models.holder` (host, pid, ...). Waiting for our own parent would
    never end, so a lock held by the parent process counts as ours."""
    try:
        holder = json.loads(lock_file.with_suffix(".holder").read_text())
    except (OSError, ValueError):
        return None
    if holder.get("pid") == os.getppid() and holder.get("host") == socket.gethostname():
        return str(holder.get("what") or f"pid {holder['pid']}")
    return None


def _acquire(lock, out) -> None:
    import filelock

    deadline = time.monotonic() + LOCK_TIMEOUT
    while True:
        try:
            lock.acquire(timeout=10)
            return
        except filelock.Timeout:
            if time.monotonic() > deadline:
                raise FetchError(f"{lock.lock_file} is still held after {LOCK_TIMEOUT} s") from None
            out(f"waiting for {lock.lock_file}: another fetch-models is running")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--verify-only",
        "--offline",
        dest="offline",
        action="store_true",
        help="download nothing: check every model against models.lock.json (exit 1 if any "
        "is missing or corrupted)",
    )
    parser.add_argument(
        "--no-lock",
        action="store_true",
        help="do not take locks/models.lock (the caller already holds it)",
    )


def main(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    try:
        report = fetch_models(settings, offline=args.offline, take_lock=not args.no_lock)
    except (RuntimeFailure, OSError) as exc:
        print(f"fetch-models failed: {exc}", flush=True)
        return 1
    print(
        f"fetch-models: {len(report.downloaded)} downloaded, {len(report.verified)} verified, "
        f"{len(report.corrupted)} corrupted, {len(report.missing)} missing "
        f"(lock: {lock_path(settings)})",
        flush=True,
    )
    return 0 if report.ok else 1
