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


BLOCK = 128  # elements per block of poisson_split's two-level cumulative sum
BLOCKS_FROM = 20_000  # elements: below this one cumulative sum costs less than the blocks' fixed overhead


def poisson_split(rng: np.random.Generator, lam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Independent ``Poisson(lam[i])`` counts, as (the indices with a count above 0, their counts).

    Drawn as one Poisson total of ``lam.sum()`` whose events each land on ``i`` with probability
    ``lam[i] / lam.sum()``: a thinned Poisson process, so the counts have exactly the law of a draw
    per element, for one pass and a draw per event. Most of 100,000 services expect far under one
    log line or failed request a tick, where a draw per service cost ten times more.

    A few events are placed in two steps: a block of BLOCK elements by the blocks' cumulative masses,
    then an element by the cumulative sum of that block alone. A cumulative sum over all elements is a
    sequential loop (0.45 ms at 100,000 services, twice a tick); the blocks' sums vectorize. Many events
    (an outage's failures) are placed by that whole cumulative sum, which then costs less than a block each.
    """
    n = len(lam)
    if n < BLOCKS_FROM:  # one cumulative sum: the law's own placement, and cheap at this size
        whole = _cumsum(lam)
        x = _events(rng, float(whole[-1]) if n else 0.0)
        return _placed(whole, x) if len(x) else (x.astype(np.int64), x.astype(np.int64))
    starts = np.arange(0, n, BLOCK)
    block = np.add.reduceat(lam, starts, dtype=np.float64)  # float64 whatever `lam` is: float32 sums drift
    cum = np.cumsum(block)
    mass = float(cum[-1])
    x = _events(rng, mass)
    if len(x) == 0:
        return x.astype(np.int64), x.astype(np.int64)
    if 4 * len(x) * BLOCK > n:  # many events: one cumulative sum costs less than a block each
        return _placed(_cumsum(lam), x)
    b = np.searchsorted(cum, x, side="right")
    b[b >= len(cum)] = np.searchsorted(cum, mass, side="left")  # x rounded up to the total
    offset = x - np.concatenate(([0.0], cum[:-1]))[b]  # >= 0: cum[b - 1] <= x
    cols = starts[b, None] + np.arange(BLOCK)
    within = lam[np.minimum(cols, n - 1)].astype(np.float64)
    within[cols >= n] = 0.0  # past the end of a short last block
    np.cumsum(within, axis=1, out=within)
    pos = (within <= offset[:, None]).sum(axis=1)
    # an offset at or past its block's own total (rounding) goes to the block's last element with a mass
    last = (within < within[:, -1:]).sum(axis=1)
    return _counted(starts[b] + np.minimum(pos, last))


def _cumsum(lam: np.ndarray) -> np.ndarray:
    """The float64 cumulative sum of `lam` (float32 partial sums of 100,000 values drift), summed in place."""
    whole = lam.astype(np.float64)
    np.cumsum(whole, out=whole)
    return whole


def _events(rng: np.random.Generator, mass: float) -> np.ndarray:
    """A Poisson(mass) number of events, each a uniform point of [0, mass)."""
    events = int(rng.poisson(mass)) if mass > 0 else 0
    return rng.random(events) * mass


def _placed(whole: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Events at points `x` placed by the cumulative sum `whole`: (indices hit, their counts)."""
    at = np.searchsorted(whole, x, side="right")
    at[at >= len(whole)] = np.searchsorted(whole, whole[-1], side="left")  # a point rounded up to the total
    return _counted(at)


def _counted(at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(at, return_counts=True)`` for a few values, without its fixed cost (60 us)."""
    at.sort()
    first = np.flatnonzero(np.concatenate(([True], at[1:] != at[:-1])))
    return at[first], np.diff(np.append(first, len(at)))
