"""Where services run: a placement grouped by host (or disk), and what a network partition cuts.

Both cost what the hosts asked about hold, not the size of the estate: the grouping (service
indices sorted by host, stably) is made once per placement in O(N), after which the services of
a host are one slice; a cut looks only at the services on the partitioned hosts and at their
dependencies. So an active partition at 100,000 services costs what its two hosts hold.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

Grouping = tuple[np.ndarray, np.ndarray]  # (service indices sorted by group, start of each group's slice)


def group(of: np.ndarray, groups: int) -> Grouping:
    """Group element indices by `of` (values in [0, groups)); within a group, ascending indices."""
    order = np.argsort(of, kind="stable")
    starts = np.zeros(groups + 1, dtype=np.int64)
    np.cumsum(np.bincount(of, minlength=groups), out=starts[1:])
    return order, starts


def members(grouping: Grouping, g: int) -> np.ndarray:
    """The indices in group `g`, ascending (a view: do not write to it)."""
    order, starts = grouping
    return order[starts[g]:starts[g + 1]]


def members_of(grouping: Grouping, gs: Iterable[int]) -> np.ndarray:
    """The indices in any of the groups `gs`, ascending and each once."""
    parts = [members(grouping, g) for g in sorted(set(gs))]
    return np.sort(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)


def cut(svc_host: np.ndarray, dep_pad: np.ndarray, services: np.ndarray, pairs: np.ndarray,
        hosts: int) -> np.ndarray:
    """Of `services`, those that call a dependency across a cut host pair, ascending.

    `pairs` holds the cut (caller host, callee host) pairs as keys ``a * hosts + b``; `dep_pad` is
    the topology's padded dependency table (N where padded)."""
    n = len(svc_host)
    deps = dep_pad[services]
    real = deps < n
    callee = svc_host[np.where(real, deps, 0)]
    keys = svc_host[services][:, None] * hosts + callee
    hit = np.isin(keys, pairs) & real
    return services[hit.any(axis=1)]
