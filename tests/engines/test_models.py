"""fetch-models against a local hub (huggingface_hub's real download code), and the paths the
engines load from, offline."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from f5_runtime import cli
from f5_runtime.config import Settings
from f5_runtime.engines.align import load_aligner
from f5_runtime.errors import ModelMissingError
from f5_runtime.io.audio import decode
from f5_runtime.models import fetch as model_fetch
from f5_runtime.models import manifest as models
from fixtures.tiny_align import ALIGN_REPO_NL, fake_commit

TTS_REPO, TTS_CKPT, TTS_VOCAB = models.TTS_FILES["F5TTS_v1_Base"]
ASR_REPO = "Systran/faster-whisper-large-v2"
TORCHAUDIO_FILE = "wav2vec2_fairseq_base_ls960_asr_ls960.pth"


@pytest.fixture
def settings(model_hub, tmp_path) -> Settings:
    return Settings.from_env(model_hub.env(tmp_path / "volume", F5_LANGUAGES="en,nl"))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_fetch_brings_every_model_of_the_manifest_and_records_it(model_hub, settings):
    lines: list[str] = []
    report = model_fetch.fetch_models(settings, out=lines.append)
    assert report.ok and not report.corrupted and not report.verified

    lock = json.loads(models.lock_path(settings).read_text())["models"]
    assert set(lock) == {
        "tts:F5TTS_v1_Base",
        "vocoder",
        "asr",
        "align:en",
        "align:nl",
        "nltk:punkt_tab",
    }
    # pinned revisions are asked for; an unpinned repo is locked at what `main` was
    assert lock["tts:F5TTS_v1_Base"]["revision"] == models.PINNED_REVISIONS[TTS_REPO]
    assert lock["asr"]["revision"] == models.PINNED_REVISIONS[ASR_REPO]
    assert lock["align:nl"]["revision"] == fake_commit(ALIGN_REPO_NL)
    # every file's size and sha256 is the hub's
    for name, record in lock.items():
        for file, digest in record["files"].items():
            if record["source"] == "huggingface":
                served = model_hub.repo_file(record["repo"], file)
            else:
                served = next((model_hub.root / "mirror").rglob(file))
            assert digest == {"size": served.stat().st_size, "sha256": sha256(served)}, name
    # the filters: faster-whisper's patterns, safetensors over .bin, no READMEs
    assert "README.md" not in lock["asr"]["files"] and "model.bin" in lock["asr"]["files"]
    assert "model.safetensors" in lock["align:nl"]["files"]
    assert "pytorch_model.bin" not in lock["align:nl"]["files"]
    assert len(report.downloaded) == sum(len(r["files"]) for r in lock.values())
    assert any(line.startswith("[1/6] tts:F5TTS_v1_Base") for line in lines)

    # ...and the runtime finds each of them where it looks
    checkpoint, vocab = models.tts_checkpoint(settings)
    assert checkpoint.read_bytes() == model_hub.repo_file(TTS_REPO, TTS_CKPT).read_bytes()
    assert vocab.name == "vocab.txt" and vocab.is_file()
    assert (models.vocoder_dir(settings) / "pytorch_model.bin").is_file()
    assert (models.asr_model_dir(settings) / "model.bin").is_file()
    english = models.align_model(settings, "en")
    assert english.kind == "torchaudio" and english.checkpoint.name == TORCHAUDIO_FILE
    assert english.checkpoint.is_relative_to(settings.torch_home / "hub" / "checkpoints")
    assert Path(models.align_model(settings, "nl").name, "config.json").is_file()
    assert models.require_punkt(settings) == settings.nltk_data


def test_a_second_fetch_verifies_and_downloads_nothing(model_hub, settings):
    model_fetch.fetch_models(settings, out=lambda line: None)
    requests_after_first = len(model_hub.requests)
    report = model_fetch.fetch_models(settings, out=lambda line: None)
    assert report.downloaded == [] and report.corrupted == []
    lock = json.loads(models.lock_path(settings).read_text())["models"]
    assert len(report.verified) == sum(len(r["files"]) for r in lock.values())
    assert len(model_hub.requests) == requests_after_first  # not even a metadata call


def test_a_corrupted_file_is_detected_reported_and_fetched_again(model_hub, settings):
    model_fetch.fetch_models(settings, out=lambda line: None)
    checkpoint, _ = models.tts_checkpoint(settings)
    blob = Path(os.path.realpath(checkpoint))  # the HF cache stores content in blobs/
    blob.write_bytes(b"bit rot" + blob.read_bytes()[7:])
    torchaudio_checkpoint = models.align_model(settings, "en").checkpoint
    torchaudio_checkpoint.write_bytes(b"truncated")

    lines: list[str] = []
    check = model_fetch.fetch_models(settings, offline=True, out=lines.append)
    bad = sorted([f"tts:F5TTS_v1_Base: {TTS_CKPT}", f"align:en: {TORCHAUDIO_FILE}"])
    assert sorted(check.corrupted) == bad and not check.ok
    assert any(line.startswith("  CORRUPTED tts:F5TTS_v1_Base") for line in lines)
    assert blob.read_bytes().startswith(b"bit rot")  # verify-only changes nothing

    report = model_fetch.fetch_models(settings, out=lambda line: None)
    assert sorted(report.corrupted) == bad and sorted(report.downloaded) == bad
    served = model_hub.repo_file(TTS_REPO, TTS_CKPT)
    assert sha256(models.tts_checkpoint(settings)[0]) == sha256(served)
    assert torchaudio_checkpoint.stat().st_size > len(b"truncated")
    assert model_fetch.fetch_models(settings, offline=True, out=lambda line: None).ok


def test_an_interrupted_download_resumes_where_it_stopped(model_hub, settings):
    served = next((model_hub.root / "mirror").rglob(TORCHAUDIO_FILE))
    dest = settings.torch_home / "hub" / "checkpoints" / TORCHAUDIO_FILE
    dest.parent.mkdir(parents=True)
    half = served.stat().st_size // 2
    dest.with_name(dest.name + ".part").write_bytes(served.read_bytes()[:half])

    model_fetch.fetch_models(settings, out=lambda line: None)
    assert dest.read_bytes() == served.read_bytes()
    ranges = [r for m, p, r in model_hub.requests if p.endswith(TORCHAUDIO_FILE) and m == "GET"]
    assert ranges == [f"bytes={half}-"]


@pytest.mark.parametrize("extra", [0, 7])
def test_a_part_file_that_is_already_complete_is_used(model_hub, settings, extra):
    """A run stopped between the last byte and the rename leaves a whole `.part`: the server
    answers its Range with 416, which must not fail every later run. One too long (`extra`)
    is downloaded again."""
    served = next((model_hub.root / "mirror").rglob(TORCHAUDIO_FILE))
    dest = settings.torch_home / "hub" / "checkpoints" / TORCHAUDIO_FILE
    dest.parent.mkdir(parents=True)
    dest.with_name(dest.name + ".part").write_bytes(served.read_bytes() + b"x" * extra)

    model_fetch.fetch_models(settings, out=lambda line: None)
    assert dest.read_bytes() == served.read_bytes()
    assert not dest.with_name(dest.name + ".part").exists()
    ranges = [r for m, p, r in model_hub.requests if p.endswith(TORCHAUDIO_FILE) and m == "GET"]
    size = served.stat().st_size
    assert ranges == ([f"bytes={size}-"] if not extra else [f"bytes={size + extra}-", None])


def test_a_missing_model_names_itself_and_the_command(tmp_path):
    settings = Settings.from_env({"F5_VOLUME": str(tmp_path)})
    for find, name in [
        (models.tts_checkpoint, "tts:F5TTS_v1_Base"),
        (models.vocoder_dir, "vocoder"),
        (models.asr_model_dir, "asr (Systran/faster-whisper-large-v2"),
        (models.require_punkt, "nltk:punkt_tab"),
        (lambda s: models.align_model(s, "en"), "align:en (WAV2VEC2_ASR_BASE_960H)"),
    ]:
        with pytest.raises(ModelMissingError) as caught:
            find(settings)
        message = str(caught.value)
        assert message.startswith(name), message
        assert f"on the volume at {tmp_path}" in message
        assert "run `f5-runtime fetch-models` (or `f5-bootstrap provision`)" in message


def test_verify_only_exit_code_and_dummy_format(model_hub, tmp_path, monkeypatch, capsys):
    for key, value in model_hub.env(tmp_path / "volume").items():
        monkeypatch.setenv(key, value)
    assert cli.main(["fetch-models", "--verify-only"]) == 1  # nothing fetched yet
    assert cli.main(["fetch-models"]) == 0
    assert cli.main(["fetch-models", "--offline"]) == 0
    files = sum(len(r["files"]) for r in models.read_lock(Settings.from_env()).values())
    assert f"0 downloaded, {files} verified, 0 corrupted, 0 missing" in capsys.readouterr().out

    monkeypatch.setenv("F5_VOLUME", str(tmp_path / "empty"))
    monkeypatch.setenv("F5_LOAD_FORMAT", "dummy")
    requests = len(model_hub.requests)
    assert cli.main(["fetch-models"]) == 0
    assert "nothing to fetch" in capsys.readouterr().out
    assert not (tmp_path / "empty").exists() and len(model_hub.requests) == requests


def test_the_engines_load_what_fetch_wrote_without_the_network(model_hub, settings, reference_clip):
    model_fetch.fetch_models(settings, out=lambda line: None)
    requests = len(model_hub.requests)
    aligner = load_aligner(settings, "cpu")  # punkt_tab from NLTK_DATA on the volume
    speech = decode(reference_clip[0].read_bytes())
    words = aligner.align(speech, "Sommigen noemen mij natuur", "nl")  # Dutch: HF snapshot
    assert [w.word for w in words] == ["Sommigen", "noemen", "mij", "natuur"]
    transcript = aligner.transcribe(speech, "nl")  # "large-v2" from the HF cache
    assert transcript.language == "nl" and transcript.text
    aligner.unload_asr()
    assert len(model_hub.requests) == requests  # everything came from the volume


def test_fetch_models_under_a_lock_its_parent_holds(
    model_hub, tmp_path, tiny_wav2vec2_dir, tiny_whisper_dir
):
    """f5-bootstrap takes locks/models.lock and runs `fetch-models` under it (see
    f5_bootstrap.lock: the holder file names host and pid): the child must not wait for it."""
    import socket
    import subprocess
    import sys

    import filelock

    env = model_hub.env(
        tmp_path / "volume",
        F5_ALIGN_MODELS=f"en={tiny_wav2vec2_dir}",  # local: keeps the child's imports light
        F5_ASR_MODEL=str(tiny_whisper_dir),
    )
    settings = Settings.from_env(env)
    settings.locks_dir.mkdir(parents=True)
    lock_file = settings.locks_dir / "models.lock"
    holder = {"host": socket.gethostname(), "pid": os.getpid(), "what": "a test as bootstrap"}
    lock_file.with_suffix(".holder").write_text(json.dumps(holder))
    with filelock.FileLock(str(lock_file)):
        child = subprocess.run(
            [sys.executable, "-m", "f5_runtime", "fetch-models"],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert child.returncode == 0, child.stdout + child.stderr
    assert "held by the process that started this one (a test as bootstrap)" in child.stdout
    assert (models.vocoder_dir(settings) / "config.yaml").is_file()
