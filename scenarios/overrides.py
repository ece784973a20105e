"""Variants: named sets of ``key.path=value`` overrides applied to a scenario's data.

``opstwin eval --variant thr=agents.monitor.detector=threshold`` runs every scenario a second
time with that change, next to the unchanged ``baseline``. Several ``--variant`` options with
the same name accumulate into one variant.

- The path is dotted, with list items as ``[i]`` or ``.i`` (``agents.specialists[0].policy``);
  ``[*]`` means every item (``agents.specialists[*].policy=random``).
- The value is parsed as YAML (``threshold`` is a string, ``3`` an int, ``30m`` a duration
  string, ``[storage]`` a list), so it reads as it would in the scenario file.
- Overrides apply to the scenario's data *before* validation, so a bad value is refused with its
  field path like any scenario error. A key the file leaves out is first filled with its default
  (``agents.specialists[*].policy`` works on a scenario with no ``agents:`` section).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from opstwin.scenarios.errors import ScenarioError
from opstwin.scenarios.loader import parse

BASELINE = "baseline"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
_MISSING = object()


class OverrideError(ValueError):
    """A variant or override that cannot be parsed or applied (one line, for the CLI)."""


@dataclass(frozen=True)
class Override:
    path: tuple[str | int, ...]
    value: Any
    text: str  # as given, for messages and the report

    def __str__(self) -> str:
        return self.text


@dataclass
class Variant:
    name: str
    overrides: list[Override] = field(default_factory=list)

    def describe(self) -> str:
        return ", ".join(map(str, self.overrides)) or "scenario as written"


def parse_path(dotted: str) -> tuple[str | int, ...]:
    """``agents.specialists[0].policy`` -> ("agents", "specialists", 0, "policy"); ``[*]`` -> "*"."""
    if not dotted or dotted.strip() != dotted:
        raise OverrideError(f"bad key path {dotted!r}")
    parts: list[str | int] = []
    for chunk in re.split(r"\.(?![^\[]*\])", dotted):
        m = re.fullmatch(r"([^\[\]]*)((?:\[(?:\d+|\*)\])*)", chunk)
        if not m or (not m.group(1) and not m.group(2)):
            raise OverrideError(f"bad key path {dotted!r} (expected key.path or key[0].path)")
        name, idx = m.group(1), m.group(2)
        if name:
            parts.append(int(name) if name.isdigit() else ("*" if name == "*" else name))
        for i in re.findall(r"\[(\d+|\*)\]", idx):
            parts.append("*" if i == "*" else int(i))
    return tuple(parts)


def parse_override(text: str) -> Override:
    """``key.path=value`` -> Override (value parsed as YAML)."""
    path, sep, raw = text.partition("=")
    if not sep or not path:
        raise OverrideError(f"bad override {text!r} (expected key.path=value)")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise OverrideError(f"bad value in {text!r}: {str(exc).splitlines()[0]}") from None
    return Override(parse_path(path.strip()), value, text)


def parse_variants(specs: tuple[str, ...] | list[str]) -> list[Variant]:
    """``name=key.path=value`` options -> variants, ``baseline`` first, same names merged in order."""
    variants: dict[str, Variant] = {BASELINE: Variant(BASELINE)}
    for spec in specs:
        name, sep, rest = spec.partition("=")
        name = name.strip()
        if not sep or not rest:
            raise OverrideError(f"bad variant {spec!r} (expected name=key.path=value)")
        if not _NAME.match(name):
            raise OverrideError(f"bad variant name {name!r} (letters, digits, '_', '-', '.')")
        if name == BASELINE:
            raise OverrideError("the variant name 'baseline' is reserved for the scenarios as written")
        variants.setdefault(name, Variant(name)).overrides.append(parse_override(rest))
    return list(variants.values())


def _default_at(defaults: Any, path: tuple[str | int, ...]) -> Any:
    node = defaults
    for part in path:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            return _MISSING
    return copy.deepcopy(node)


def _set(node: Any, path: tuple[str | int, ...], value: Any, defaults: Any, where: tuple[str | int, ...],
         text: str) -> None:
    part, rest = path[0], path[1:]
    here = (*where, part)
    if part == "*":
        if not isinstance(node, list):
            raise OverrideError(f"{text}: {_dotted(where) or 'the scenario'} is not a list")
        for i, item in enumerate(node):
            if rest:
                _set(item, rest, value, defaults, (*where, i), text)
            else:
                node[i] = copy.deepcopy(value)
        return
    if isinstance(node, list):
        if not isinstance(part, int):
            raise OverrideError(f"{text}: {_dotted(where)} is a list; use {_dotted(where)}[i] or [*]")
        if not 0 <= part < len(node):
            raise OverrideError(f"{text}: {_dotted(here)} is out of range ({len(node)} items)")
    elif isinstance(node, dict):
        if isinstance(part, int):
            raise OverrideError(f"{text}: {_dotted(where) or 'the scenario'} is a mapping, not a list")
    else:
        raise OverrideError(f"{text}: {_dotted(where)} is a value ({node!r}), it has no {part!r}")
    if not rest:
        node[part] = copy.deepcopy(value)
        return
    child = node[part] if (isinstance(node, list) or part in node) else _MISSING
    if child is None or child is _MISSING:  # absent in the file: start from the default, else empty
        filled = _default_at(defaults, here)
        child = filled if isinstance(filled, (dict, list)) else ([] if isinstance(rest[0], int) else {})
        node[part] = child
    _set(child, rest, value, defaults, here, text)


def _dotted(path: tuple[str | int, ...]) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) or p == "*" else ("." if out else "") + str(p)
    return out


def apply(data: dict[str, Any], overrides: list[Override], file: str = "<scenario>") -> dict[str, Any]:
    """A copy of raw scenario `data` with `overrides` applied in order (raises OverrideError)."""
    out = copy.deepcopy(data)
    if not overrides:
        return out
    if not isinstance(out, dict):
        raise OverrideError(f"{file}: a scenario must be a YAML mapping")
    defaults: Any = None
    for ov in overrides:
        if defaults is None:
            try:  # the file's defaults, to fill keys it leaves out (validated once, as written)
                defaults = parse(copy.deepcopy(data), file).model_dump(mode="json")
            except ScenarioError:
                defaults = {}
        _set(out, ov.path, ov.value, defaults, (), ov.text)
    return out
