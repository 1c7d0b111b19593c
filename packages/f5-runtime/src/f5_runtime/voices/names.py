"""What a voice may be called, and the names that mean "the default voice".

Light on purpose (no numpy, no boto3): the API's request validation imports it.
"""

from __future__ import annotations

import re

from f5_runtime.errors import ValidationError

NAME_RULE = "1-64 characters: a-z, 0-9, '_' and '-', starting with a letter or digit"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")

# OpenAI's standard voices: a client sends one of these and expects speech. Unless a voice of
# that name was registered, they mean the endpoint's default voice (F5_DEFAULT_VOICE).
OPENAI_VOICES = frozenset({
    "alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer",
    "verse", "marin", "cedar",
})
# The names that mean "the default voice" unless a voice of that name is registered.
DEFAULT_VOICE_NAMES = OPENAI_VOICES | {"default"}


def is_voice_name(value: str) -> bool:
    return bool(_NAME.match(value))


def name_problem(value: object) -> str | None:
    """Why `value` is not a voice name, or None when it is one."""
    if not isinstance(value, str):
        return f"must be a string, got {value!r}"
    if is_voice_name(value):
        return None
    hint = f" (try {value.lower()!r})" if is_voice_name(value.lower()) else ""
    return f"{value[:80]!r} is not a voice name: use {NAME_RULE}{hint}"


def check_name(value: object, field: str = "voice") -> str:
    """`value` when it is a voice name; else ValidationError naming `field` and the rule."""
    problem = name_problem(value)
    if problem is not None:
        raise ValidationError(f"{field}: {problem}")
    assert isinstance(value, str)
    return value
