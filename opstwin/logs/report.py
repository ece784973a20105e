"""Reports of ``opstwin logs``: a markdown table for people, CSV and JSON for tools (as ``eval``)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from opstwin.logs.detect import Result
from opstwin.logs.parsing import Mined, ParseScore


def _f(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def detect_markdown(results: list[Result], heading: str) -> str:
    """One row per detector: P/R/F1 per window and per line, flagged counts, seconds."""
    lines = [f"## {heading}", "",
             "| detector | window P | window R | window F1 | line P | line R | line F1 | flagged windows | seconds |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in results:
        w, ln = r.window, r.line
        lines.append(f"| {r.detector} | {_f(w and w.precision)} | {_f(w and w.recall)} | {_f(w and w.f1)} | "
                     f"{_f(ln and ln.precision)} | {_f(ln and ln.recall)} | {_f(ln and ln.f1)} | "
                     f"{r.flagged_windows}/{r.test_windows} | {r.seconds:.2f} |")
    return "\n".join(lines) + "\n"


def parse_markdown(mined: Mined, score: ParseScore | None, heading: str) -> str:
    """Lines, templates, malformed lines and (with ground truth) grouping and parsing accuracy."""
    out = [f"## {heading}", "", "| lines | parsed | malformed | templates | scored | true events | GA | PA |",
           "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    s = score
    out.append(f"| {mined.stats.lines} | {mined.n} | {mined.stats.malformed} | {len(mined.templates)} | "
               f"{s.lines if s else '-'} | {s.events if s else '-'} | {_f(s and s.grouping_accuracy)} | "
               f"{_f(s and s.parsing_accuracy)} |")
    return "\n".join(out) + "\n"


def write(out: Path, markdown: str, rows: list[dict[str, Any]], extra: dict[str, Any]) -> None:
    """`out`/report.md, results.csv (one row each) and results.json (rows and the run's facts)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(markdown)
    with (out / "results.csv").open("w", newline="") as f:
        if rows:
            w = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
            w.writeheader()
            w.writerows(rows)
    (out / "results.json").write_text(json.dumps({**extra, "results": rows}, indent=2, sort_keys=True) + "\n")


def write_templates(path: Path, mined: Mined) -> None:
    """EventId (drain3 cluster), EventTemplate and Occurrences, most frequent first."""
    import numpy as np

    ids, n = np.unique(mined.cluster, return_counts=True)
    order = np.lexsort((ids, -n))
    with path.open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["EventId", "EventTemplate", "Occurrences"])
        for k in order.tolist():
            w.writerow([int(ids[k]), mined.templates.get(int(ids[k]), ""), int(n[k])])
