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
