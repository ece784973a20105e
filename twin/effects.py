"""Effects: how faults (and anything else outside the twin) bend its state, reversibly.

Every owner (a fault id, say) sets contributions to named per-element modifiers; the twin's
modifier array for that element is the combination of the current contributions (a product,
a sum, a maximum or a minimum) over the identity. Clearing an owner recomputes exactly the elements it
touched, so an ended fault leaves no residue, however many faults overlapped. Contributions are
kept in insertion order, so the combination is deterministic.

A field over a huge index space of which a fault bends a handful of elements (the host pairs a
partition cuts: hosts x hosts) is *sparse*: it has no array, only its bent elements
(:meth:`Effects.bent`), so its memory and its readers' cost follow the faults, not the estate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class Modifier:
    array: np.ndarray | None  # None: a sparse field (see the module docstring)
    op: str  # "mul", "add", "max" or "min"
    identity: float


class Effects:
    """A registry of modifier contributions; see the module docstring."""

    def __init__(self) -> None:
        self._mods: dict[str, Modifier] = {}
        self._contrib: dict[tuple[str, int], dict[str, float]] = {}
        self._owned: dict[str, set[tuple[str, int]]] = {}
        self._count: dict[str, int] = {}
        self._keys: dict[str, set[int]] = {}  # per field: the elements with a contribution
        self._sparse: dict[str, dict[int, float]] = {}  # per sparse field: its bent elements' values

    def register(self, field: str, array: np.ndarray | None, op: str, identity: float) -> None:
        """A modifier over `array` (set to `identity` here); `array` None makes the field sparse."""
        if op not in ("mul", "add", "max", "min"):
            raise ValueError(f"unknown modifier op {op!r}")
        if array is None:
            self._sparse[field] = {}
        else:
            array[...] = identity
        self._mods[field] = Modifier(array, op, identity)

    def bent(self, field: str) -> dict[int, float]:
        """A sparse field's elements that have a contribution, with their combined values."""
        return self._sparse[field]

    @property
    def fields(self) -> list[str]:
        return list(self._mods)

    def set(self, owner: str, field: str, index: int, value: float) -> None:
        """Set `owner`'s contribution to `field[index]` (replacing its previous one)."""
        if field not in self._mods:
            raise KeyError(f"unknown effect field {field!r}; known: {', '.join(self._mods)}")
        key = (field, int(index))
        self._contrib.setdefault(key, {})[owner] = float(value)
        self._owned.setdefault(owner, set()).add(key)
        self._recompute(key)

    def get(self, owner: str, field: str, index: int) -> float | None:
        return self._contrib.get((field, int(index)), {}).get(owner)

    def unset(self, owner: str, field: str, index: int) -> None:
        key = (field, int(index))
        if self._contrib.get(key, {}).pop(owner, None) is not None:
            self._owned.get(owner, set()).discard(key)
            self._recompute(key)

    def clear(self, owner: str) -> None:
        """Remove every contribution of `owner`."""
        for key in sorted(self._owned.pop(owner, set())):
            self._contrib.get(key, {}).pop(owner, None)
            self._recompute(key)

    def active(self, field: str) -> bool:
        """Whether any owner contributes to `field` (cheaper than scanning its array)."""
        return self._count.get(field, 0) > 0

    def owners(self, field: str, index: int) -> list[str]:
        return list(self._contrib.get((field, int(index)), {}))

    def _recompute(self, key: tuple[str, int]) -> None:
        field, index = key
        mod = self._mods[field]
        values = list(self._contrib.get(key, {}).values())
        combine: Callable[[list[float]], float] = {
            "mul": lambda v: float(math.prod(v)) if v else mod.identity,
            "add": lambda v: float(sum(v)) + mod.identity,
            "max": lambda v: max([mod.identity, *v]),
            "min": lambda v: min([mod.identity, *v]),
        }[mod.op]
        value = mod.identity if not values else combine(values)
        if mod.array is not None:
            mod.array.flat[index] = value
        keys = self._keys.setdefault(field, set())
        if not values:
            self._contrib.pop(key, None)
            keys.discard(index)
            if mod.array is None:
                self._sparse[field].pop(index, None)
        else:
            keys.add(index)
            if mod.array is None:
                self._sparse[field][index] = value
        self._count[field] = len(keys)  # kept incrementally: a set is O(1) however many elements are bent
