"""Seeded random generators: every draw in opstwin comes from one of these.

A generator is named (``"twin"``, ``"faults"``, ``"agent:monitor-0"``) and derived from the
scenario seed and that name with a stable hash, so adding a consumer never shifts another's
stream, and the same seed gives the same draws in every process.
"""

from __future__ import annotations

import zlib

import numpy as np


def generator(seed: int, *names: str) -> np.random.Generator:
    """An independent `numpy.random.Generator` for (seed, names)."""
    key = [zlib.crc32(n.encode()) for n in names]
    return np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, *key]))


def poisson_split(rng: np.random.Generator, lam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Independent ``Poisson(lam[i])`` counts, as (the indices with a count above 0, their counts).

    Drawn as one Poisson total of ``lam.sum()`` whose events each land on ``i`` with probability
    ``lam[i] / lam.sum()``: a thinned Poisson process, so the counts have exactly the law of a draw
    per element, for one cumulative sum and a draw per event. Most of 100,000 services expect far
    under one log line or failed request a tick, where a draw per service cost ten times more.
    """
    cum = np.cumsum(lam, dtype=np.float64)  # float64 whatever `lam` is: 100,000 float32 partial sums drift
    mass = float(cum[-1]) if len(cum) else 0.0
    events = int(rng.poisson(mass)) if mass > 0 else 0
    if events == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    at = np.searchsorted(cum, rng.random(events) * mass, side="right")
    at[at >= len(cum)] = np.searchsorted(cum, mass, side="left")  # u * mass rounded up to the total
    return np.unique(at, return_counts=True)
