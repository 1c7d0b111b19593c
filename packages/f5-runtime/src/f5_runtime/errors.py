"""One exception tree for the runtime.

    RuntimeFailure                 anything this package raises on purpose
    ├── UserError                  the request is wrong: message says what to fix; worker healthy
    │   ├── ValidationError        a field is missing, of the wrong type or out of range
    │   ├── InputError             an input could not be fetched or is not usable audio
    │   ├── UnknownVoiceError      no voice of that name (HTTP: 404)
    │   └── VoiceExistsError       registering a name that is taken, without overwrite (409)
    ├── ConfigError                a bad environment variable: message names it and the fix
    ├── StorageError               outputs could not be written (after retries)
    ├── ModelMissingError          a model is not on the volume: names it and `fetch-models`
    ├── WorkerStopping             SIGTERM: the running job was abandoned (and cleaned up)
    ├── JobCancelled               cancelled (RunPod's stop channel, a client gone, time ran out)
    └── EngineError                synthesis/alignment failed
        ├── DeviceOutOfMemory      a sampler call ran out of memory (the scheduler splits it)
        └── WorkerBrokenError      the GPU/models are unusable (e.g. CUDA error): replace worker
"""


class RuntimeFailure(Exception):
    """Base of every error this package raises on purpose."""


class UserError(RuntimeFailure):
    """The request cannot be served as sent; the message tells the user what to change."""


class ValidationError(UserError):
    pass


class InputError(UserError):
    pass


class UnknownVoiceError(UserError):
    pass


class VoiceExistsError(UserError):
    pass


class ConfigError(RuntimeFailure):
    pass


class StorageError(RuntimeFailure):
    pass


class ModelMissingError(RuntimeFailure):
    pass


class WorkerStopping(RuntimeFailure):
    """The worker is being stopped (SIGTERM) and the job did not finish within the grace time."""


class JobCancelled(RuntimeFailure):
    """The job was cancelled while it ran (RunPod's stop channel, its client disconnected, or
    it ran past its time limit): its queued chunks are dropped, its outputs removed like a
    failure's."""


class EngineError(RuntimeFailure):
    pass


class DeviceOutOfMemory(EngineError):
    """One sampler call did not fit in device memory. Raised with no OutOfMemoryError attached
    (as neither cause nor context), so that it never reads as a broken GPU."""


class WorkerBrokenError(EngineError):
    """Raised when the process can no longer serve (CUDA errors after OOM, corrupted state)."""
