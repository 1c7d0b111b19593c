"""`f5-runtime fetch-models`: bring every model of the manifest (models/manifest.py) onto the
volume, under the models lock, and record what was fetched in models.lock.json.

Hub files go through huggingface_hub's own download (resumes `.incomplete` blobs); plain URLs
(torchaudio checkpoints, NLTK data) download to `<file>.part` and resume with a Range request.
Every file is hashed after download and checked against the lock on every later run: a
corrupted file is reported, removed (in the HF cache, its blob too) and fetched again, and a
download that differs from the lock for the same revision is an error, never silently kept.
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import json
import os
import re
import shutil
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from f5_runtime.config import Settings
from f5_runtime.errors import RuntimeFailure
from f5_runtime.models.manifest import (
    CHUNK,
    LOCK_TIMEOUT,
    HubModel,
    Model,
    UrlModel,
    all_models,
    file_digest,
    hub_cache,
    lock_path,
    read_lock,
    snapshot_dir,
    write_lock,
)

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
    """Download to `dest.part`, resuming a previous partial download, then rename. A `.part`
    that is already whole (a run stopped between the last byte and the rename) is answered
    416 by the server: it is kept when its size is the file's, else downloaded again."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            resumed = response.status == 206
            with part.open("ab" if resumed else "wb") as f:
                shutil.copyfileobj(response, f, CHUNK)
    except urllib.error.HTTPError as exc:
        if exc.code != 416 or not have:
            raise FetchError(f"could not fetch {url}: {exc}") from exc
        total = (exc.headers.get("Content-Range") or "").rpartition("/")[2]
        if total != str(have):  # longer than the file, or the server won't say: start over
            part.unlink()
            return download_url(url, dest, timeout)
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
    """Fetch (or, offline, verify) every model of the manifest, under the models lock (the
    volume's one lease protocol, f5_bootstrap.lock: a holder file with a heartbeat, so a
    waiting bootstrap never breaks a long fetch)."""
    from f5_bootstrap.errors import BootstrapError
    from f5_bootstrap.lock import VolumeLock

    models = all_models(settings)
    if not models:
        out("nothing to fetch: F5_LOAD_FORMAT=dummy builds every model in memory")
        return Report()
    lock_file = settings.locks_dir / "models.lock"
    if take_lock and (holder := _held_by_parent(lock_file)):
        out(f"{lock_file} is held by the process that started this one ({holder}): using it")
        take_lock = False
    with contextlib.ExitStack() as stack:
        if take_lock:
            lock = VolumeLock(
                lock_file, what="f5-runtime fetch-models", stale_s=settings.lock_stale_s, log=out
            )
            try:
                lock.acquire(LOCK_TIMEOUT)
            except BootstrapError as exc:
                raise FetchError(f"{exc.message}; {exc.hint}") from None
            stack.callback(lock.release)
        return Fetcher(settings, offline=offline, out=out).run(models)


def _held_by_parent(lock_file: Path) -> str | None:
    """A caller that holds the models lock and runs `fetch-models` without `--no-lock`: a
    lock held by our parent process counts as ours (waiting for it would never end)."""
    try:
        holder = json.loads(lock_file.with_suffix(".holder").read_text())
    except (OSError, ValueError):
        return None
    if holder.get("pid") == os.getppid() and holder.get("host") == socket.gethostname():
        return str(holder.get("what") or f"pid {holder['pid']}")
    return None


# ---------------------------------------------------------------------------------------------
# `f5-runtime fetch-models`
# ---------------------------------------------------------------------------------------------


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
        print(f"fetch-models failed: {exc}", file=sys.stderr, flush=True)
        return 1
    print(
        f"fetch-models: {len(report.downloaded)} downloaded, {len(report.verified)} verified, "
        f"{len(report.corrupted)} corrupted, {len(report.missing)} missing "
        f"(lock: {lock_path(settings)})",
        flush=True,
    )
    return 0 if report.ok else 1
