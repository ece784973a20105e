"""Which components a fault can hit: the checks of a scenario's `faults:` section against its
topology (with field paths), and the candidate targets random faults are drawn from.

Both work on the topology spec (names, placements, dependencies), not on a built twin, so
a scenario is checked before anything starts, even when its topology has other problems.
"""

from __future__ import annotations

import numpy as np

from opstwin.faults.catalog import CATALOG
from opstwin.faults.spec import FaultsSpec
from opstwin.twin.spec import Calls, TopologySpec


class Names:
    """The topology's components by kind, in file order, and who calls whom across hosts."""

    _last: tuple[TopologySpec, "Names"] | None = None  # see of()

    @classmethod
    def of(cls, topology: TopologySpec) -> "Names":
        """The names of `topology`, built once: validation, its semantic checks and the injector all ask
        about the same spec object (at 100,000 services each build is a third of a second). Specs are
        not changed after validation, so the last one is kept by identity."""
        last = cls._last
        if last is None or last[0] is not topology:
            last = cls._last = (topology, cls(topology))
        return last[1]

    def __init__(self, topology: TopologySpec) -> None:
        self.service = [s.name for s in topology.services]
        self.host = [h.name for h in topology.hosts]
        self.disk = [d.name for h in topology.hosts for d in h.disks]
        self._position: dict[str, int] = {}  # host -> its first place in the file
        for i, h in enumerate(self.host):
            self._position.setdefault(h, i)
        pos = self._position
        calls = Calls.of(topology)
        # each service's host (-1: not a known host), as the last service of its name has it (as a dict keeps)
        host_of = np.array([pos.get(s.host, -1) for s in topology.services] + [-1], dtype=np.int64)
        last = np.array([calls.index[s.name] for s in topology.services] + [-1], dtype=np.int64)
        self.entries = [s.name for s in topology.services if s.entry]
        self.called: set[str] = set(calls.callee_names)
        src = host_of[last[calls.caller]]  # per call, the caller's and the callee's host (-1: none)
        dst = host_of[calls.callee]  # an unknown callee is -1: the padding's -1
        if not self.entries:  # as the twin: services nothing calls are the entry points
            self.entries = [s for s in self.service if s not in self.called]
        self.busy_hosts = {s.host for s in topology.services}
        self.busy_disks = {s.disk for s in topology.services if s.disk}
        # hosts that exchange calls, both ways, as sorted (host, partner) pairs: partners are a slice
        a, b = src, dst
        cross = (a >= 0) & (b >= 0) & (a != b)
        h = max(len(self.host), 1)
        pairs = np.unique(np.concatenate([a[cross] * h + b[cross], b[cross] * h + a[cross]]))
        self._partner = pairs % h
        self._partner_start = np.searchsorted(pairs // h, np.arange(len(self.host) + 1))
        # answers are cached: a day of random faults asks the same questions many times
        self._candidates: dict[tuple[str, tuple[str, ...] | None], list[str]] = {}

    def of_kind(self, kind: str) -> list[str]:
        return {"service": self.service, "host": self.host, "disk": self.disk}[kind]

    def partners(self, host: str) -> list[str]:
        """Hosts that `host` exchanges calls with, in file order (O(its partners), not O(hosts))."""
        k = self._position.get(host)
        if k is None:
            return []
        return [self.host[p] for p in self._partner[self._partner_start[k]:self._partner_start[k + 1]]]

    def candidates(self, fault_type: str, allowed: list[str] | None = None) -> list[str]:
        """Targets a random fault of this type may hit: ones where it has visible symptoms."""
        key = (fault_type, None if allowed is None else tuple(allowed))
        if key not in self._candidates:
            self._candidates[key] = self._candidates_of(fault_type, allowed)
        return list(self._candidates[key])

    def _candidates_of(self, fault_type: str, allowed: list[str] | None) -> list[str]:
        kind = CATALOG[fault_type].target
        names = self.of_kind(kind)
        if fault_type == "traffic_spike":
            names = self.entries
        elif fault_type == "dependency_outage" and self.called:
            names = [s for s in names if s in self.called]
        elif fault_type == "network_partition":
            linked = np.diff(self._partner_start) > 0
            names = [h for h in names if linked[self._position[h]]]
        elif kind == "host":
            names = [h for h in names if h in self.busy_hosts]
        elif kind == "disk":
            names = [d for d in names if d in self.busy_disks]
        if allowed is not None:
            keep = set(allowed)
            names = [n for n in names if n in keep]
        return names


def fault_errors(faults: FaultsSpec, topology: TopologySpec, duration: float) -> list[tuple[str, str]]:
    """(field path, problem) for every fault entry that cannot apply to this topology and run."""
    names = Names.of(topology)
    out: list[tuple[str, str]] = []
    for i, f in enumerate(faults.scheduled):
        p = f"faults.scheduled[{i}]"
        kind = CATALOG[f.type].target
        where = [(f"{p}.targets[{j}]", t) for j, t in enumerate(f.targets)] if f.targets else [(f"{p}.target", f.target)]
        for path, target in where:
            if target not in set(names.of_kind(kind)):
                out.append((path, f"unknown {kind} {target!r}; a {f.type} fault targets a {kind}"))
        if f.at >= duration:
            out.append((f"{p}.at", "fault is scheduled after the end of the run"))
        elif f.at + f.jitter >= duration:
            out.append((f"{p}.jitter", "at + jitter is after the end of the run"))
        if f.type == "network_partition":
            for path, target in where:
                if f.peer not in set(names.host):
                    out.append((f"{p}.peer", f"unknown host {f.peer!r}"))
                    break
                elif f.peer == target:
                    out.append((path if f.targets else f"{p}.peer", "a partition needs two different hosts"))
                elif target in set(names.host) and f.peer not in names.partners(target):
                    out.append((path if f.targets else f"{p}.peer", f"no service on {target!r} calls a service on {f.peer!r} or back: "
                                      "the partition would cut nothing"))
    every = set(names.service) | set(names.host) | set(names.disk)
    for i, r in enumerate(faults.random):
        p = f"faults.random[{i}]"
        for j, t in enumerate(r.targets or []):
            if t not in every:
                out.append((f"{p}.targets[{j}]", f"unknown component {t!r} (not a service, host or disk)"))
        if r.window.start >= duration:
            out.append((f"{p}.window.start", "window starts after the end of the run"))
        if r.window.end is not None and r.window.end > duration:
            out.append((f"{p}.window.end", "window ends after the end of the run"))
        for j, t in enumerate(r.types):
            if not names.candidates(t, r.targets):
                kind = CATALOG[t].target
                out.append((f"{p}.types[{j}]", f"no allowed target for {t} (it needs a {kind}"
                                               + (" among `targets`)" if r.targets is not None else ")")))
    return out
