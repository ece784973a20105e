"""Windows of template counts, as loglizer builds them: the features of the count detectors.

A file's lines are cut into fixed windows of `size` consecutive lines (the last may be shorter),
or of `size` seconds by their Timestamp field (loglizer's fixed time windows, as used on BGL);
with sessions (lines grouped by a header field, as loglizer groups HDFS lines by block), each
session's lines, in file order, are cut the same way and no window spans two sessions.
A window's feature vector counts its lines per template seen in training, plus one column for
lines of templates training never saw. Its label is anomalous when any of its lines is (loghub's
convention for BGL and Thunderbird windows). Matrices are sparse: windows x templates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse


@dataclass(frozen=True)
class Vocabulary:
    """Template (cluster id) -> column; index 0 is 'unseen in training'."""

    ids: np.ndarray  # sorted cluster ids seen in training

    @classmethod
    def of(cls, clusters: np.ndarray) -> "Vocabulary":
        return cls(np.unique(clusters))

    @property
    def size(self) -> int:
        return len(self.ids) + 1

    def index(self, clusters: np.ndarray) -> np.ndarray:
        """Column per line: 1 + position among the known ids, 0 when unseen."""
        if not len(self.ids):
            return np.zeros(len(clusters), dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.ids, clusters), len(self.ids) - 1)
        known = self.ids[pos] == clusters
        return np.where(known, pos + 1, 0)


def starts(segment: np.ndarray) -> np.ndarray:
    """Per line, the index of the first line of its run of equal `segment` values."""
    n = len(segment)
    new = np.ones(n, dtype=bool)
    new[1:] = segment[1:] != segment[:-1]
    return np.maximum.accumulate(np.where(new, np.arange(n), 0)) if n else np.zeros(0, dtype=np.int64)


def window_ids(segment: np.ndarray, size: float, time: np.ndarray | None = None) -> np.ndarray:
    """Window number (from 0, non-decreasing) of each line: `size` consecutive lines of a segment
    (a session's lines, grouped together beforehand), or with `time` the lines of `size` seconds
    (buckets from the earliest line); a new window at every segment change."""
    n = len(segment)
    if not n:
        return np.zeros(0, dtype=np.int64)
    if time is None:
        local = (np.arange(n) - starts(segment)) // int(size)
    else:
        local = np.floor((time - time.min()) / size).astype(np.int64)
    new = np.ones(n, dtype=bool)
    new[1:] = (segment[1:] != segment[:-1]) | (local[1:] != local[:-1])
    return np.cumsum(new) - 1


def counts(columns: np.ndarray, wid: np.ndarray, width: int) -> sparse.csr_matrix:
    """Windows x `width` count matrix of lines whose columns are `columns`, in windows `wid`."""
    n_windows = int(wid[-1]) + 1 if len(wid) else 0
    return sparse.csr_matrix((np.ones(len(columns), dtype=np.float32), (wid, columns)), shape=(n_windows, width))


def per_window(flags: np.ndarray, wid: np.ndarray) -> np.ndarray:
    """How many lines of each window have `flags` set."""
    n_windows = int(wid[-1]) + 1 if len(wid) else 0
    return np.bincount(wid, weights=flags.astype(np.float64), minlength=n_windows).astype(np.int64)
