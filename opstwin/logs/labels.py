"""Session labels from a separate file, as loghub ships HDFS's (``anomaly_label.csv``).

HDFS is labelled per block, not per line: ``BlockId,Label`` rows with ``Normal`` or ``Anomaly``.
With ``--session 'blk_-?\\d+'`` each line belongs to the block its Content names first (loglizer
groups HDFS the same way), and with ``--labels anomaly_label.csv`` every line of an anomalous block
is anomalous. The file's first column is the session id; its ``Label`` column (else its second) is
the label: ``-``, ``Normal``, ``normal`` or ``0`` is normal, anything else anomalous. A line in no
session, or in a session the file does not name, is normal.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from opstwin.logs.reader import LogInputError

NORMAL = frozenset({"-", "normal", "Normal", "NORMAL", "0"})


class LabelError(LogInputError):
    """A label file that cannot be read (the message names the file and line)."""


def read_labels(path: Path) -> dict[str, bool]:
    """Session id -> anomalous, from a CSV with a header row."""
    out: dict[str, bool] = {}
    with path.open(newline="", encoding="utf-8", errors="replace") as f:
        rows = csv.reader(f)
        header = next(rows, None)
        if not header or len(header) < 2:
            raise LabelError(f"{path}: not a label file: expected a header like BlockId,Label")
        col = next((k for k, name in enumerate(header) if name.strip().lower() == "label"), 1)
        for k, row in enumerate(rows, start=2):
            if not row:
                continue
            if len(row) <= col:
                raise LabelError(f"{path}:{k}: expected {len(header)} columns, got {len(row)}")
            out[row[0].strip()] = row[col].strip() not in NORMAL
    return out


def label_lines(group: np.ndarray, groups: dict[str, int], labels: dict[str, bool]) -> np.ndarray:
    """Per line, whether its session is labelled anomalous (`groups`: session id -> group number)."""
    bad = np.zeros(len(groups), dtype=bool)
    for key, number in groups.items():
        bad[number] = labels.get(key, False)
    return bad[group] if len(group) else np.zeros(0, dtype=bool)
