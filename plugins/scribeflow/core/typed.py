"""Settings' values as their fields' types, from text (environment variables) or params."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from scribeflow.core.errors import ConfigError


def coerce(f: dataclasses.Field, value: Any, source: str | None = None) -> Any:
    """``value`` as the field's type, strictly (``SCRIBEFLOW_QUIZ=ture`` is an error naming
    the variable, not False): pydantic's lax mode, which reads ``true/false/1/0/yes/no/on/off``
    as booleans and whole numbers as integers."""
    from pydantic import TypeAdapter, ValidationError

    name = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "")
    kind = {"bool": bool, "int": int, "float": float, "Path": Path, "str": str}.get(
        name.removesuffix(" | None"), None)
    if kind is None or (kind is str and isinstance(value, str)):
        return value
    try:
        return TypeAdapter(kind).validate_python(value.strip() if isinstance(value, str) else value)
    except ValidationError as exc:
        expected = {bool: "true or false", int: "a whole number", float: "a number",
                    Path: "a path", str: "text"}[kind]
        where = source or f"setting {f.name}"
        raise ConfigError(f"{where}={value!r} is not {expected} "
                          f"({exc.errors()[0]['msg'].lower()})") from None
