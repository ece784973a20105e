"""Streaming a log file: one line at a time, header split by a format, malformed lines counted.

Text is never held: each line is decoded (undecodable bytes replaced, as real files have some),
matched against the format's regex and handed on as (line number, fields). A line that
does not match (a blank line, a truncated write, another system's line) is counted and skipped;
the first few line numbers are kept for the message. Progress is reported by bytes read, so a
caller can show how far a long file has got without counting its lines first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from opstwin.logs.formats import LogFormat

class LogInputError(ValueError):
    """Input the log commands cannot use: the message names what and where, in one line."""


Progress = Callable[[int, int, int], None]  # (bytes read, total bytes, lines read)
PROGRESS_STEPS = 10  # reports per file (every 10% of its bytes)


@dataclass
class ReadStats:
    """What a read saw: lines, malformed lines and where the first of them are."""

    lines: int = 0
    malformed: int = 0
    first_malformed: list[int] = field(default_factory=list)

    def bad(self, number: int) -> None:
        """Count line `number` as malformed."""
        self.malformed += 1
        if len(self.first_malformed) < 3:
            self.first_malformed.append(number)

    def note(self) -> str:
        """One line for the user about skipped lines ('' when there were none)."""
        if not self.malformed:
            return ""
        where = ", ".join(map(str, self.first_malformed))
        return f"{self.malformed} malformed line(s) skipped (the header does not fit; first at line(s) {where})"


def read(path: Path, fmt: LogFormat, stats: ReadStats, progress: Progress | None = None
         ) -> Iterator[tuple[int, re.Match[str]]]:
    """(line number from 1, the header match: fields by name) for every line of `path` that fits `fmt`."""
    regex = fmt.regex
    total = path.stat().st_size
    step = max(total // PROGRESS_STEPS, 1)
    next_report, done = step, 0
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            done += len(raw)
            stats.lines = number
            m = regex.match(raw.decode("utf-8", "replace").rstrip("\r\n"))
            if m is None:
                stats.bad(number)
            else:
                yield number, m
            if progress is not None and done >= next_report:
                progress(done, total, number)
                next_report += step
