"""Levels of a call graph given as integer edge arrays, in O(nodes + edges) vectorized work.

A node's level is 0 when nothing calls it, else one more than its deepest caller's: the longest
call path from an entry. Topology compilation numbers services by it, and scenario checks use it
to find out cheaply that there is no cycle (only a graph with one is handed to graphlib, which
names the cycle).
"""

from __future__ import annotations

import numpy as np


def levels(n: int, src: np.ndarray, dst: np.ndarray) -> np.ndarray | None:
    """Each node's level (edges src -> dst over nodes 0..n-1), or None when the graph has a cycle.

    Kahn's algorithm a level at a time: the calls out of a level are one gather, and their callees
    lose one caller each in one scatter."""
    level = np.zeros(n, dtype=np.int64)
    indegree = np.bincount(dst, minlength=n)
    by_src = np.argsort(src, kind="stable")
    out_start = np.concatenate([[0], np.cumsum(np.bincount(src, minlength=n))])
    frontier = np.flatnonzero(indegree == 0)
    done, depth = len(frontier), 0
    while len(frontier):
        level[frontier] = depth
        lengths = out_start[frontier + 1] - out_start[frontier]
        edges = by_src[np.repeat(out_start[frontier], lengths) + _ramp(lengths)]
        callees = dst[edges]
        np.subtract.at(indegree, callees, 1)
        frontier = np.unique(callees[indegree[callees] == 0])
        done += len(frontier)
        depth += 1
    return level if done == n else None


def _ramp(lengths: np.ndarray) -> np.ndarray:
    """0, 1, ..., k-1 for each span of length k, concatenated (positions within CSR row spans)."""
    return np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)


def reachable(indptr: np.ndarray, indices: np.ndarray, start: np.ndarray | list[int]) -> np.ndarray:
    """The nodes reachable from any of `start` along a CSR adjacency's rows, sorted; `start` itself only
    where a path leads back to it. Breadth first, a frontier at a time (one gather per level)."""
    seen = np.zeros(len(indptr) - 1, dtype=bool)
    frontier = np.unique(np.asarray(start, dtype=np.int64))
    while len(frontier):
        lengths = indptr[frontier + 1] - indptr[frontier]
        nxt = indices[np.repeat(indptr[frontier], lengths) + _ramp(lengths)]
        frontier = np.unique(nxt[~seen[nxt]])
        seen[frontier] = True
    return np.flatnonzero(seen)
