"""The incident log: one JSON object per line, appended as things happen, in sim time.

Lines are canonical (sorted keys, compact separators, floats rounded to microseconds) so the
same run gives the same bytes; the file is flushed per line so an interrupted run keeps what
happened. If the disk refuses a line (full, or a size limit), the file is cut back to its last
whole line and :class:`LogWriteError` says so; nothing more is written to it. Events are also
kept in memory for metrics. Every event must fit its kind in the
registry of ``opstwin.twin.events`` (docs/events.md).
"""

from __future__ import annotations

import errno
import hashlib
import math
import json
from pathlib import Path
from typing import Any, BinaryIO, Callable

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


class LogWriteError(OSError):
    """The incident log could not be written; the file ends on its last whole line."""


class EventLog:
    """Appends canonical JSON lines to `path` (if given) and keeps them in `events`."""

    def __init__(self, path: Path | str | None = None, validate: bool = True) -> None:
        self.validate = validate  # check each event against the registry (off only to test the writer alone)
        self.events: list[dict[str, Any]] = []
        self._sha = hashlib.sha256()
        self.path = Path(path) if path else None
        self._file: BinaryIO | None = open(path, "wb", buffering=0) if path else None  # one write() per line
        self._written = 0  # bytes of whole lines in the file
        self.broken: OSError | None = None  # why the file stopped, if it did
        self.listeners: list[Callable[[dict[str, Any]], None]] = []

    def emit(self, t: float, kind: str, **fields: Any) -> dict[str, Any]:
        event = _canon({"t": float(t), "kind": kind, **fields})
        if self.validate:
            check(event)
        line = (dumps(event) + "\n").encode()
        self._sha.update(line)
        if self._file:
            self._write(line)
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

    def _write(self, line: bytes) -> None:
        """Write one whole line or none: on failure cut the file back to the last whole line and raise."""
        try:
            view = memoryview(line)
            while view:
                n = self._file.write(view)
                if not n:
                    raise OSError(errno.ENOSPC, "no space left on device")
                view = view[n:]
        except OSError as exc:
            self.broken = exc
            try:
                self._file.truncate(self._written)
            except OSError:  # not a regular file (a device, a pipe): nothing to cut back
                pass
            finally:
                try:
                    self._file.close()
                except OSError:
                    pass
                self._file = None
            raise LogWriteError(exc.errno, f"cannot write the incident log ({exc.strerror or exc}); it ends on "
                                           f"its last whole line, {len(self.events)} events",
                                str(self.path)) from None
        self._written += len(line)

    def close(self) -> None:
        if self._file:
            self._file.close()
            self._file = None
