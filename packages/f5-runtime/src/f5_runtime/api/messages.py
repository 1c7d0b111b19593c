"""Pydantic's validation errors turned into one readable message, each part naming the field
and what would be valid ("input.options.nfe_steps: must be between 4 and 64, got 500")."""

from __future__ import annotations

import difflib
import re
from typing import Any

import pydantic
from pydantic import BaseModel

ModelsAt = dict[str, type[BaseModel]]  # "options" -> Options: where each model sits in a request
_TYPE_NAMES = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "model_type": "a JSON object",
    "model_attributes_type": "a JSON object",
    "dict_type": "a JSON object",
}


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _field_info(loc: tuple, models: ModelsAt) -> pydantic.fields.FieldInfo | None:
    model = models.get(".".join(str(p) for p in loc[:-1]))
    return model.model_fields.get(str(loc[-1])) if model else None


def _bounds(loc: tuple, models: ModelsAt) -> tuple[Any, Any]:
    info = _field_info(loc, models)
    low = high = None
    for meta in info.metadata if info else ():
        low = getattr(meta, "ge", None) if getattr(meta, "ge", None) is not None else low
        high = getattr(meta, "le", None) if getattr(meta, "le", None) is not None else high
    return low, high


def _describe(error: dict, models: ModelsAt) -> str:
    kind, loc, value = error["type"], tuple(error["loc"]), error.get("input")
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        model = models.get(".".join(str(p) for p in loc[:-1]))
        known = list(model.model_fields) if model else []
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else f"; known fields: {', '.join(known)}"
        return "is not a known field" + hint
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        low, high = _bounds(loc, models)
        if low is not None and high is not None:
            return f"must be between {low} and {high}, got {_show(value)}"
        return f"{error['msg'].lower()}, got {_show(value)}"
    if kind == "literal_error":
        return f"must be one of {error['ctx']['expected']}, got {_show(value)}"
    if kind in _TYPE_NAMES or kind.endswith("_type") or kind.endswith("_parsing"):
        wanted = _TYPE_NAMES.get(kind, kind.removesuffix("_type").removesuffix("_parsing"))
        return f"must be {wanted}, got {_show(value)}"
    return error["msg"]


def format_errors(exc: pydantic.ValidationError, models: ModelsAt) -> str:
    parts = []
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        if not loc:  # a rule across fields; the message names its field when it has one
            msg = error["msg"]
            parts.append(("input." if re.match(r"^\w+: ", msg) else "input: ") + msg)
            continue
        where = ".".join(["input", *(str(p) for p in loc)])
        parts.append(f"{where}: {_describe(error, models)}")
    return "; ".join(parts)
