"""The one error type of f5-bootstrap, and the exit codes, mapped in one place.

    BootstrapError(step, message, hint)
        step  -- which step failed (a key of EXIT_CODES)
        hint  -- what the user can do about it

Every failure the user can act on is raised as a BootstrapError; `cli.main` prints it as
`f5-bootstrap: <step> failed: <message>` plus the hint and exits with the step's code.
Anything else is a bug and exits with INTERNAL_ERROR and a traceback.
"""

from __future__ import annotations

OK = 0
INTERNAL_ERROR = 1  # a bug: an exception that is not a BootstrapError
USAGE_ERROR = 2  # argparse's own code for a bad command line

# step -> exit code. Documented in the package README ("Exit codes"); keep the two in step.
EXIT_CODES: dict[str, int] = {
    "config": 3,  # a bad F5_* variable, no bundle, no uv binary
    "lock": 4,  # gave up waiting for another builder (F5_LOCK_TIMEOUT_S)
    "venv": 5,  # `uv venv` failed
    "sync": 5,  # `uv sync` failed (network, index, disk)
    "healthcheck": 6,  # `python -m f5_runtime healthcheck` failed in the new env
    "fetch-models": 7,  # `python -m f5_runtime fetch-models` failed
    "finalize": 8,  # writing the completion marker or moving the env into place failed
    "exec": 9,  # os.execve of the runtime failed
    "gc": 10,  # removing an env failed
    "flash-attn": 11,  # the flash-attn wheel does not match F5_FLASH_ATTN_SHA256
}


class BootstrapError(Exception):
    """A failure of one named step, with a hint saying what to do."""

    def __init__(self, step: str, message: str, hint: str = "") -> None:
        if step not in EXIT_CODES:
            raise ValueError(f"unknown step {step!r}")
        super().__init__(message)
        self.step = step
        self.message = message
        self.hint = hint

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.step]

    def __str__(self) -> str:
        text = f"{self.step} failed: {self.message}"
        return f"{text}\n  hint: {self.hint}" if self.hint else text
