"""Settings: the environment is read here and nowhere else, once, at start.

Every field says which variable sets it. A bad value raises ConfigError naming the variable
and what would be valid, so a misconfigured endpoint fails at start, not on the first job.
The bootstrap sets the paths (HF_HOME, TORCH_HOME, NLTK_DATA, F5_VOLUME, ...); without it the
same layout is used at the bootstrap's default root (f5_bootstrap.config.default_root: a
mounted /runpod-volume or /workspace, else ~/.cache/f5tts), so both always agree.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

from f5_bootstrap.config import DEFAULT_STALE_LOCK_S, default_root

from f5_runtime.errors import ConfigError
from f5_runtime.io.s3_endpoint import parse_bucket_endpoint

TTS_MODELS = ("F5TTS_v1_Base", "E2TTS_Base", "tiny")
TTS_DTYPES = ("auto", "float16", "bfloat16", "float32")


class _Env:
    """Typed reads of environment variables with errors that name the variable."""

    def __init__(self, env: Mapping[str, str]):
        self.env = env

    def str(self, name: str, default: str) -> str:
        return self.env.get(name, "").strip() or default

    def opt(self, name: str) -> str | None:
        return self.env.get(name, "").strip() or None

    def path(self, name: str, default: Path) -> Path:
        value = self.env.get(name, "").strip()
        return Path(value).expanduser() if value else default

    def int(self, name: str, default: int, minimum: int = 0) -> int:
        raw = self.env.get(name, "").strip()
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name}={raw!r} is not an integer") from None
        if value < minimum:
            raise ConfigError(f"{name}={value} must be at least {minimum}")
        return value

    def float(self, name: str, default: float, minimum: float = 0.0) -> float:
        raw = self.env.get(name, "").strip()
        if not raw:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{name}={raw!r} is not a number") from None
        if value < minimum:
            raise ConfigError(f"{name}={value} must be at least {minimum}")
        return value

    def bool(self, name: str, default: bool) -> bool:
        raw = self.env.get(name, "").strip().lower()
        if not raw:
            return default
        if raw in ("1", "true", "yes", "on"):
            return True
        if raw in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name}={raw!r}: use 1/true/yes/on or 0/false/no/off")

    def choice(self, name: str, default: str, allowed: tuple[str, ...]) -> str:
        value = self.str(name, default)
        if value not in allowed:
            raise ConfigError(f"{name}={value!r}: must be one of {', '.join(allowed)}")
        return value


def _align_models(raw: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for item in (x.strip() for x in raw.split(",")):
        if not item:
            continue
        language, sep, model = (x.strip() for x in item.partition("="))
        if not sep or not language or not model:
            raise ConfigError(
                f"F5_ALIGN_MODELS: {item!r} is not LANGUAGE=MODEL "
                "(e.g. nl=jonatasgrosman/wav2vec2-large-xlsr-53-dutch or en=/path/to/dir)"
            )
        pairs.append((language, model))
    return tuple(pairs)


@dataclass(frozen=True)
class Settings:
    # --- where things live (set by f5-bootstrap; defaults for a developer's machine) ---
    root: Path  # <volume>/f5tts                       F5_VOLUME (+ "/f5tts")
    models_dir: Path  # HF_HOME / TORCH_HOME root        F5_MODELS_DIR
    refs_dir: Path  # prepared voice references cache  F5_REFS_DIR
    tmp_dir: Path | None  # per-job temp dirs (local disk)  F5_TMP_DIR (default: system temp)
    voices_dir: Path  # registered voices on the volume      F5_VOICES_DIR (default <root>/voices)
    # registered voices in S3 instead of the volume: s3://bucket/prefix/   F5_VOICES_URL
    voices_url: str | None
    # the voice of requests naming none, and of OpenAI's voice names when not registered
    default_voice: str  # F5_DEFAULT_VOICE (default en-default, a built-in)

    # --- models and devices ---
    load_format: str  # "auto" (files on the volume) or "dummy" (random weights)  F5_LOAD_FORMAT
    tts_model: str  # F5TTS_v1_Base | E2TTS_Base | tiny                           F5_TTS_MODEL
    device: str  # "auto", "cuda", "cpu"                                           F5_DEVICE
    # the F5-TTS transformer's dtype: "auto" is f5-tts's own rule (float16 on CUDA devices of
    # compute capability 7.0+, float32 elsewhere); bfloat16 needs 8.0+ (engines/device.py)
    tts_dtype: str  # auto | float16 | bfloat16 | float32                           F5_TTS_DTYPE
    # the transformer blocks through torch.compile (engines/compile.py): faster sampling
    # after a longer start (the warm-up compiles); dynamic shapes, so lengths never recompile
    compile: bool  # F5_COMPILE (default off)
    # one short synthesis at start, so that the first job pays no first-call costs   F5_WARMUP
    warmup: bool
    languages: tuple[str, ...]  # alignment languages fetched and warm-loaded     F5_LANGUAGES
    asr_model: str  # faster-whisper model name or local directory               F5_ASR_MODEL
    # Whisper stays in memory after its first use (else freed after each transcription); on by
    # default: large-v2 fits beside F5-TTS on a 24 GB GPU, reloading costs seconds a job.
    asr_keep_loaded: bool  # F5_ASR_KEEP_LOADED
    refs_cache_mb: int  # bound of the prepared-references cache                  F5_REFS_CACHE_MB
    tts_batch_frames: int  # mel frames (chunks x length) sampled in one batch  F5_TTS_BATCH_FRAMES
    # jobs a queue worker runs at once (their CPU stages overlap, their chunks share batches);
    # 0: chosen from GPU memory (engines/device.py default_concurrency)  F5_CONCURRENCY
    concurrency: int
    hf_home: Path  # Hugging Face cache (hub/ inside)       HF_HOME (default <models>/hf)
    torch_home: Path  # torch hub checkpoints (torchaudio)  TORCH_HOME (default <models>/torch)
    nltk_data: Path  # NLTK punkt_tab          NLTK_DATA (first entry; default <models>/nltk)
    locks_dir: Path  # lock files, e.g. models.lock        F5_LOCKS_DIR (default <root>/locks)
    # a lock holder whose heartbeat has not moved for this long is dead (f5_bootstrap.lock)
    lock_stale_s: float  # F5_LOCK_STALE_S (default: f5-bootstrap's)
    # per-language aligner instead of WhisperX's default: (("nl", "org/repo"), ("en", "/dir"))
    align_models: tuple[tuple[str, str], ...]  # F5_ALIGN_MODELS="nl=org/repo,en=/dir"
    hf_endpoint: str  # Hub that fetch-models downloads from          HF_ENDPOINT
    models_mirror: str | None  # non-Hub model files from <mirror>/<host>/<path>  F5_MODELS_MIRROR

    # --- request limits ---
    max_text_chars: int  # F5_MAX_TEXT_CHARS
    max_audio_bytes: int  # F5_MAX_AUDIO_MB (in MiB)
    max_audio_seconds: float  # F5_MAX_AUDIO_SECONDS (inputs: reference and recordings)

    # --- storage ---
    output_url: str | None  # s3://bucket/prefix/ used when a request names no output  F5_OUTPUT_URL
    presign_expiry: int  # seconds a presigned output URL stays valid      F5_PRESIGN_EXPIRY
    allow_private_urls: bool  # fetch from loopback/private addresses (tests)  F5_ALLOW_PRIVATE_URLS
    allow_http: bool  # accept plain http:// inputs                       F5_ALLOW_HTTP
    bucket_endpoint_url: str | None  # S3 endpoint; may name a bucket  BUCKET_ENDPOINT_URL
    bucket_access_key_id: str | None  # BUCKET_ACCESS_KEY_ID (else boto3's chain)
    bucket_secret_access_key: str | None  # BUCKET_SECRET_ACCESS_KEY
    bucket_region: str | None  # BUCKET_REGION (else boto3's chain)
    storage_attempts: int  # tries per S3/https call before giving up         F5_STORAGE_ATTEMPTS
    storage_timeout: float  # seconds to connect / between bytes               F5_STORAGE_TIMEOUT
    inline_max_bytes: int  # largest audio returned inline (base64), no bucket  F5_INLINE_MAX_MB

    # --- service wiring ---
    # "module:callable" building the Engines from Settings; a testing/extension hook.  F5_ENGINES
    engines_factory: str
    on_runpod: bool  # RUNPOD_WEBHOOK_GET_JOB is set: a real endpoint (progress updates go out)
    stop_grace_seconds: float  # a job running at SIGTERM may finish within this   F5_STOP_GRACE_S
    # The RunPod SDK's log level: RUNPOD_LOG_LEVEL / RUNPOD_DEBUG_LEVEL. INFO unless set, since
    # the SDK's DEBUG lines print whole job inputs and outputs (presigned URLs included).
    sdk_log_level: str

    # --- serving mode and the HTTP server (`f5-runtime serve`) ---
    # "queue": `worker` serves RunPod's job queue; "http": `worker` runs the HTTP server
    # instead (RunPod load-balancing endpoints).                                   F5_MODE
    mode: str
    port: int  # the HTTP server's port (RunPod's load balancer sets it)            PORT
    port_health: int  # where /ping also answers (RunPod's load balancer)  PORT_HEALTH (= PORT)
    max_queue: int  # requests waiting or running at once; more get 429            F5_MAX_QUEUE
    request_timeout: float  # seconds a request may wait and run        F5_REQUEST_TIMEOUT_S
    api_keys: tuple[str, ...]  # bearer keys; none: open     F5_API_KEYS (comma-separated)
    # The queue worker streams jobs that ask for it (a generator handler: every job's output
    # becomes the list of its yields, so it is off by default).          F5_QUEUE_STREAMING
    queue_streaming: bool

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        e = _Env(env)
        root = default_root(env)
        languages = tuple(x.strip() for x in e.str("F5_LANGUAGES", "en").split(",") if x.strip())
        models_dir = e.path("F5_MODELS_DIR", root / "models")
        nltk_data = e.str("NLTK_DATA", "").split(os.pathsep)[0]
        return cls(
            root=root,
            models_dir=models_dir,
            refs_dir=e.path("F5_REFS_DIR", root / "refs"),
            tmp_dir=e.path("F5_TMP_DIR", Path()) if e.opt("F5_TMP_DIR") else None,
            voices_dir=e.path("F5_VOICES_DIR", root / "voices"),
            voices_url=_checked_voices_url(e.opt("F5_VOICES_URL")),
            default_voice=_checked_voice_name("F5_DEFAULT_VOICE",
                                              e.str("F5_DEFAULT_VOICE", "en-default")),
            load_format=e.choice("F5_LOAD_FORMAT", "auto", ("auto", "dummy")),
            tts_model=e.choice("F5_TTS_MODEL", "F5TTS_v1_Base", TTS_MODELS),
            device=e.choice("F5_DEVICE", "auto", ("auto", "cuda", "cpu")),
            tts_dtype=e.choice("F5_TTS_DTYPE", "auto", TTS_DTYPES),
            compile=e.bool("F5_COMPILE", False),
            warmup=e.bool("F5_WARMUP", True),
            languages=languages or ("en",),
            asr_model=e.str("F5_ASR_MODEL", "large-v2"),
            asr_keep_loaded=e.bool("F5_ASR_KEEP_LOADED", True),
            refs_cache_mb=e.int("F5_REFS_CACHE_MB", 2048, minimum=1),
            tts_batch_frames=e.int("F5_TTS_BATCH_FRAMES", 24_000, minimum=1),
            concurrency=e.int("F5_CONCURRENCY", 0, minimum=0),
            hf_home=e.path("HF_HOME", models_dir / "hf"),
            torch_home=e.path("TORCH_HOME", models_dir / "torch"),
            nltk_data=Path(nltk_data) if nltk_data else models_dir / "nltk",
            locks_dir=e.path("F5_LOCKS_DIR", root / "locks"),
            lock_stale_s=e.float("F5_LOCK_STALE_S", DEFAULT_STALE_LOCK_S),
            align_models=_align_models(e.str("F5_ALIGN_MODELS", "")),
            hf_endpoint=e.str("HF_ENDPOINT", "https://huggingface.co").rstrip("/"),
            models_mirror=(e.opt("F5_MODELS_MIRROR") or "").rstrip("/") or None,
            max_text_chars=e.int("F5_MAX_TEXT_CHARS", 5000, minimum=1),
            max_audio_bytes=e.int("F5_MAX_AUDIO_MB", 50, minimum=1) * 1024 * 1024,
            max_audio_seconds=e.float("F5_MAX_AUDIO_SECONDS", 600.0, minimum=1.0),
            output_url=e.opt("F5_OUTPUT_URL"),
            presign_expiry=e.int("F5_PRESIGN_EXPIRY", 24 * 3600, minimum=1),
            allow_private_urls=e.bool("F5_ALLOW_PRIVATE_URLS", False),
            allow_http=e.bool("F5_ALLOW_HTTP", False),
            bucket_endpoint_url=_checked_bucket_endpoint(e.opt("BUCKET_ENDPOINT_URL")),
            bucket_access_key_id=e.opt("BUCKET_ACCESS_KEY_ID"),
            bucket_secret_access_key=e.opt("BUCKET_SECRET_ACCESS_KEY"),
            bucket_region=e.opt("BUCKET_REGION"),
            storage_attempts=e.int("F5_STORAGE_ATTEMPTS", 4, minimum=1),
            storage_timeout=e.float("F5_STORAGE_TIMEOUT", 30.0, minimum=0.1),
            inline_max_bytes=int(e.float("F5_INLINE_MAX_MB", 10.0, minimum=0.0) * 1024 * 1024),
            engines_factory=e.str("F5_ENGINES", "f5_runtime.engines:load_engines"),
            on_runpod=bool(e.opt("RUNPOD_WEBHOOK_GET_JOB")),
            stop_grace_seconds=e.float("F5_STOP_GRACE_S", 5.0, minimum=0.0),
            sdk_log_level=e.opt("RUNPOD_LOG_LEVEL") or e.str("RUNPOD_DEBUG_LEVEL", "INFO"),
            mode=e.choice("F5_MODE", "queue", ("queue", "http")),
            port=e.int("PORT", 80, minimum=1),
            port_health=e.int("PORT_HEALTH", e.int("PORT", 80, minimum=1), minimum=1),
            max_queue=e.int("F5_MAX_QUEUE", 16, minimum=1),
            request_timeout=e.float("F5_REQUEST_TIMEOUT_S", 300.0, minimum=1.0),
            api_keys=tuple(k.strip() for k in e.str("F5_API_KEYS", "").split(",") if k.strip()),
            queue_streaming=e.bool("F5_QUEUE_STREAMING", False),
        )

    def describe(self) -> str:
        """Every setting, one `name: value` line each, secrets masked (worker start-up log)."""
        lines = []
        for f in fields(self):
            value = getattr(self, f.name)
            secret = "secret" in f.name or "access_key" in f.name or f.name == "api_keys"
            shown = "***" if value and secret else value
            lines.append(f"  {f.name}: {shown}")
        return "\n".join(lines)

    def summary(self) -> str:
        """The settings that matter at start, as one readable line (the start-up log)."""
        weights = "random weights (F5_LOAD_FORMAT=dummy)" if self.load_format == "dummy" else (
            f"models from {self.models_dir}")
        output = self.output_url or "the request's bucket, else inline"
        return (f"volume {self.root}; {self.tts_model}, {weights}; device {self.device}; "
                f"languages {', '.join(self.languages)}; outputs to {output}")


def _checked_voices_url(url: str | None) -> str | None:
    if url is not None:
        from f5_runtime.voices.s3 import parse_voices_url

        parse_voices_url(url)
    return url


def _checked_voice_name(variable: str, value: str) -> str:
    from f5_runtime.voices.names import name_problem

    problem = name_problem(value)
    if problem is not None:
        raise ConfigError(f"{variable}: {problem}")
    return value


def _checked_bucket_endpoint(url: str | None) -> str | None:
    parse_bucket_endpoint(url)  # a malformed URL stops the worker at start, not at a job
    return url
