"""The incident log: one JSON object per line, appended as things happen, in sim time.

Lines are canonical (sorted keys, compact separators, floats rounded to microseconds) so the
same run gives the same bytes; the file is flushed per line so an interrupted run keeps what
happened. Events are also kept in memory for metrics. Every event must fit its kind in the
registry of ``opstwin.twin.events`` (docs/events.md).
"""

from __future__ import annotations

import hashlib
import math
import json
from pathlib import Path
from typing import Any, Callable, TextIO

from opstwin.twin.events import check


def _canon(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 6) + 0.0 if math.isfinite(value) else None  # JSON has no NaN or infinity
    if isinstance(value, dict):
        return {str(k): _canon(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canon(v) for v in value]
    if hasattr(value, "item"):  # numpy scalar
        return _canon(value.item())
    return value


def dumps(event: dict[str, Any]) -> str:
    return json.dumps(_canon(event), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class EventLog:
    """Appends canonical JSON lines to `path` (if given) and keeps them in `events`."""

    def __init__(self, path: Path | str | None = None, validate: bool = True) -> None:
        self.validate = validate  # check each event against the registry (off only to test the writer alone)
        self.events: list[dict[str, Any]] = []
        self._sha = hashlib.sha256()
        self._file: TextIO | None = open(path, "w", encoding="utf-8") if path else None
        self.listeners: list[Callable[[dict[str, Any]], None]] = []

    def emit(self, t: float, kind: str, **fields: Any) -> dict[str, Any]:
        event = _canon({"t": float(t), "kind": kind, **fields})
        if self.validate:
            check(event)
        line = dumps(event) + "\n"
        self._sha.update(line.encode())
        if self._file:
            self._file.write(line)
            self._file.flush()
        self.events.append(event)
        for listener in self.listeners:
            listener(event)
        return event

    @property
    def sha256(self) -> str:
        """sha256 of every line written so far (equals the file's sha256)."""
        return self._sha.hexdigest()

    def of_kind(self, *kinds: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["kind"] in kinds]

    def close(self) -> None:
        if self._file:
            self._file.close()
            self._file = None
