"""Bulk construction: the cyclic garbage collector paused while a big estate is built.

Building 100,000 services makes millions of long-lived objects (specs, names, index dicts). Each
allocation burst triggers collections that re-scan everything allocated so far, which was about 40%
of the CPU time of setting such an estate up. Nothing built here is garbage yet, so the collector is
paused for the build (reference counting still frees what is dropped). When the build succeeds, what it
made is frozen (`gc.freeze`): otherwise the first young-generation collection after the pause walks all
of it (0.2-0.4 s at 100,000 services) and the next middle one again (0.7 s, inside the tick loop).
`release_built()` (called when a run finishes) hands frozen objects back to the collector, so cyclic
garbage of a finished run is still collected in a long process (an evaluation, the test suite).
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector inside the block; restore its previous state after, freezing
    what a successful outermost block built."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    except BaseException:
        if enabled:
            gc.enable()
        raise
    if enabled:
        gc.freeze()
        gc.enable()


def release_built() -> None:
    """Hand objects frozen by `paused_gc` back to the collector (into its oldest generation)."""
    gc.unfreeze()
