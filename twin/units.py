"""Quantities with units, as written in scenario files.

Durations are strings such as ``500ms``, ``10s``, ``5m``, ``2h``, ``1d`` and become float
seconds; sizes such as ``512MB``, ``50GB``, ``1.5TiB`` become float bytes. A bare number is
taken as seconds or bytes. Bad strings raise ``ValueError`` with the accepted units named, which
pydantic turns into a field-level validation error.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

_DURATION_UNITS = {"ms": 1e-3, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
_SIZE_UNITS = {
    "B": 1.0,
    "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
    "KIB": 2.0**10, "MIB": 2.0**20, "GIB": 2.0**30, "TIB": 2.0**40,
}
_NUMBER = r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([A-Za-z]*)\s*"


def _parse(value: object, units: dict[str, float], default: str, kind: str, examples: str, unit_help: str,
           case: str) -> float:
    """A number with an optional unit from `units` (keys in `case`: "lower" or "upper")."""
    if type(value) is float and 0.0 <= value < math.inf:  # the common case, first: 100,000 services
        return value
    if isinstance(value, bool):
        raise ValueError(f"expected a {kind} such as {examples}")
    if isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:  # an int of 310+ digits
            raise ValueError(f"{kind} must be a finite, non-negative number, got an integer too large "
                             f"for one ({value.bit_length()} bits)") from None
    elif isinstance(value, str) and (m := re.fullmatch(_NUMBER, value)):
        unit = getattr(m.group(2), case)() or default
        if unit not in units:
            raise ValueError(f"unknown {kind} unit {m.group(2)!r} in {value!r}; use {unit_help}")
        number = float(m.group(1)) * units[unit]
    else:
        raise ValueError(f"expected a {kind} such as {examples}, got {value!r}")
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{kind} must be a finite, non-negative number, got {value!r}")
    return number


def parse_duration(value: object) -> float:
    """Seconds from ``"10s"``-style strings (or plain non-negative numbers)."""
    return _parse(value, _DURATION_UNITS, "s", "duration", "10s, 5m, 2h", "ms, s, m, h or d", "lower")


def parse_size(value: object) -> float:
    """Bytes from ``"50GB"``-style strings (or plain non-negative numbers)."""
    return _parse(value, _SIZE_UNITS, "B", "size", "500MB, 50GB, 2TB", "B, KB, MB, GB, TB (or KiB..TiB)", "upper")


def format_duration(seconds: float) -> str:
    """The shortest exact unit string for a number of seconds (for schemas and reports)."""
    for unit, factor in (("d", 86400.0), ("h", 3600.0), ("m", 60.0), ("s", 1.0)):
        if seconds >= factor and float(seconds / factor).is_integer():
            return f"{int(seconds // factor)}{unit}"
    ms = float(f"{seconds * 1000:.6f}")
    if ms * 1e-3 == seconds:  # milliseconds say it exactly
        return f"{ms:.6f}".rstrip("0").rstrip(".") + "ms"
    return format(Decimal(repr(float(seconds))), "f") + "s"  # every digit, positional: parses back exactly


def format_clock(seconds: float) -> str:
    """Sim time for people, at most two units, truncated: ``45s``, ``2m5s``, ``2h13m``, ``1d2h``.

    Unlike :func:`format_duration` it is not exact; it is what progress lines and summaries show,
    so every sim time a user reads has the same shape.
    """
    total = int(max(0.0, seconds))
    units = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
    for i, (unit, size) in enumerate(units):
        if total >= size or unit == "s":
            major, rest = divmod(total, size)
            text = f"{major}{unit}"
            if i + 1 < len(units):
                minor_unit, minor_size = units[i + 1]
                if rest // minor_size:
                    text += f"{rest // minor_size}{minor_unit}"
            return text
    return "0s"  # pragma: no cover - the loop always returns


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
    WithJsonSchema({"anyOf": [{"type": "string", "pattern": r"^\s*[0-9.]+\s*(ms|s|m|min|h|d)?\s*$"},
                              {"type": "number", "minimum": 0}], "examples": ["10s", "2h"]}),
]
"""Float seconds, written in YAML as ``10s``, ``5m``, ``2h``."""

Size = Annotated[
    float,
    BeforeValidator(parse_size),
    WithJsonSchema({"anyOf": [{"type": "string", "examples": ["500MB", "50GB"]}, {"type": "number", "minimum": 0}]}),
]
"""Float bytes, written in YAML as ``500MB``, ``50GB``."""
