"""The compiled topology: names, indices and dependency arrays the vectorized tick uses.

Services are numbered in dependency order: level 0 holds the services nothing depends on (the
entry points), and every dependency of a service sits at a strictly deeper level. Each level is
a contiguous slice, so request rates flow forward level by level and errors and latency flow
back the same way, each step one sparse product or one padded gather.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np
import scipy.sparse as sp

from opstwin.twin import dag, placement
from opstwin.twin.bulk import paused_gc
from opstwin.twin.spec import Calls, ServiceSpec, TopologySpec


@dataclass(frozen=True)
class Topology:
    spec: TopologySpec
    services: list[str]  # in level order
    hosts: list[str]
    disks: list[str]
    levels: list[tuple[int, int]]  # [start, stop) per level
    svc_host: np.ndarray  # int, per service
    svc_standby: np.ndarray  # int, -1 when none
    svc_disk: np.ndarray  # int, -1 when none
    disk_host: np.ndarray  # int, per disk
    dep_pad: np.ndarray  # (N, D) dependency indices, N where padded
    calls_pad: np.ndarray  # (N, D) calls per request, 0 where padded
    forward: list[sp.csr_matrix]  # per level: (level size, level start) calls from parents
    backward: list[sp.csr_matrix]  # per level: (level size, N) calls to dependencies
    entry: np.ndarray  # bool, per service

    @property
    def n_services(self) -> int:
        return len(self.services)

    def index(self, service: str) -> int:
        return self._svc_index[service]

    def host_index(self, host: str) -> int:
        return self._host_index[host]

    def disk_index(self, disk: str) -> int:
        return self._disk_index[disk]

    def service_spec(self, service: str) -> ServiceSpec:
        return self._specs[service]

    @property
    def graph(self) -> nx.DiGraph:
        """Edge a -> b: service a calls service b; attribute `calls`. Built on first use, nodes and edges
        in file order: for what draws or walks the whole graph (the page, the naive bench); the team
        asks the methods below, which need no graph."""
        if self._graph is None:
            graph = nx.DiGraph()
            with paused_gc():  # hundreds of thousands of dicts at 100,000 services: see twin/bulk.py
                graph.add_nodes_from(self._specs)
                graph.add_edges_from((s.name, d.service, {"calls": d.calls})
                                     for s in self.spec.services for d in s.dependencies())
            object.__setattr__(self, "_graph", graph)
        return self._graph

    # the call graph's questions, answered from the compiled arrays: a networkx graph of 100,000 services
    # took most of a second to build, in the middle of a run, when the first alert asked one of them
    def is_service(self, name: str) -> bool:
        return name in self._svc_index

    def dependents(self, service: str) -> list[str]:
        """Services that call `service`, sorted by name."""
        return sorted(self._names(self._row(self._called_by, service)))

    def dependencies(self, service: str) -> list[str]:
        """Services `service` calls, sorted by name."""
        return sorted(self._names(self._row(self._calls, service)))

    def ancestors(self, service: str) -> set[str]:
        """Every service that calls `service`, directly or not (as ``networkx.ancestors``)."""
        return set(self._names(self.upstream([self.index(service)])))

    def descendants(self, service: str) -> set[str]:
        """Every service `service` calls, directly or not (as ``networkx.descendants``)."""
        c = self._calls
        return set(self._names(dag.reachable(c.indptr, c.indices, [self.index(service)])))

    def upstream(self, idx: np.ndarray | list[int]) -> np.ndarray:
        """Indices of every service that calls one of the services `idx`, directly or not, sorted."""
        c = self._called_by
        return dag.reachable(c.indptr, c.indices, idx)

    def _row(self, m: sp.csr_matrix, service: str) -> np.ndarray:
        i = self.index(service)
        return m.indices[m.indptr[i]:m.indptr[i + 1]]

    def _names(self, idx: np.ndarray) -> list[str]:
        return [self.services[i] for i in idx.tolist()]

    def services_on_host(self, host: str) -> list[str]:
        """The services placed on `host` in the spec, in index order (a migration is the twin's)."""
        return [self.services[i] for i in placement.members(self._by_host, self._host_index[host])]

    def services_on_disk(self, disk: str) -> list[str]:
        return [self.services[i] for i in placement.members(self._by_disk, self._disk_index[disk] + 1)]

    @classmethod
    def build(cls, spec: TopologySpec) -> Topology:
        """Compile a valid spec (see :func:`twin.spec.reference_errors`): O(services + calls), in numpy
        where it counts, so 100,000 services compile in about a second."""
        specs = {s.name: s for s in spec.services}
        names = [s.name for s in spec.services]  # file order
        table = Calls.of(spec)  # calls in file order of callers, then as listed
        if (table.callee < 0).any():
            raise ValueError("a service calls an unknown service; check it with twin.spec.reference_errors first")
        n = len(names)
        src_f, dst_f, calls_of = table.caller, table.callee, table.calls
        level_f = dag.levels(n, src_f, dst_f)
        if level_f is None:
            raise ValueError("the dependency graph has a cycle; check it with twin.spec.reference_errors first")
        perm = np.lexsort((np.arange(n), level_f))  # by level, then file order
        rank = np.empty(n, dtype=np.int64)
        rank[perm] = np.arange(n)
        services = [names[i] for i in perm]
        idx = {name: i for i, name in enumerate(services)}
        counts = np.bincount(level_f, minlength=int(level_f.max()) + 1 if n else 0)
        bounds = np.concatenate([[0], np.cumsum(counts)]).tolist()
        levels = list(zip(bounds[:-1], bounds[1:]))

        hosts = [h.name for h in spec.hosts]
        host_idx = {h: i for i, h in enumerate(hosts)}
        disks, disk_host = [], []
        for h in spec.hosts:
            for d in h.disks:
                disks.append(d.name)
                disk_host.append(host_idx[h.name])
        disk_idx = {d: i for i, d in enumerate(disks)}

        ordered = [specs[s] for s in services]
        svc_host = np.array([host_idx[s.host] for s in ordered], dtype=np.int64)
        svc_standby = np.array([host_idx[s.standby_host] if s.standby_host else -1 for s in ordered], dtype=np.int64)
        svc_disk = np.array([disk_idx[s.disk] if s.disk else -1 for s in ordered], dtype=np.int64)

        # dependencies per service in index order: a padded table and a sparse calls matrix
        rows, cols = rank[src_f], rank[dst_f]
        by = np.lexsort((cols, rows))
        rows, cols, vals = rows[by], cols[by], calls_of[by]
        degree = np.bincount(rows, minlength=n)
        width = int(degree.max()) if len(rows) else 0
        width = width or 1
        first = np.concatenate([[0], np.cumsum(degree)[:-1]]) if n else np.zeros(0, dtype=np.int64)
        slot = np.arange(len(rows)) - first[rows]
        dep_pad = np.full((n, width), n, dtype=np.int64)
        calls_pad = np.zeros((n, width), dtype=np.float64)
        dep_pad[rows, slot] = cols
        calls_pad[rows, slot] = vals
        calls = sp.csr_matrix((vals, (rows, cols)), shape=(n, n))  # caller row, callee column
        callee_view = calls.T.tocsr()  # callee row, caller column
        forward = [callee_view[a:b, :a] for a, b in levels]
        backward = [calls[a:b, :] for a, b in levels]

        entry = np.array([s.entry for s in ordered], dtype=bool)
        if not entry.any():  # default: what nothing depends on is user-facing
            entry[levels[0][0] : levels[0][1]] = True

        topo = cls(
            spec=spec, services=services, hosts=hosts, disks=disks, levels=levels,
            svc_host=svc_host, svc_standby=svc_standby, svc_disk=svc_disk,
            disk_host=np.array(disk_host, dtype=np.int64), dep_pad=dep_pad, calls_pad=calls_pad,
            forward=forward, backward=backward, entry=entry,
        )
        object.__setattr__(topo, "_svc_index", idx)
        object.__setattr__(topo, "_host_index", host_idx)
        object.__setattr__(topo, "_disk_index", disk_idx)
        object.__setattr__(topo, "_specs", specs)
        object.__setattr__(topo, "_graph", None)
        object.__setattr__(topo, "_calls", calls)  # caller row, callee column
        object.__setattr__(topo, "_called_by", callee_view)  # callee row, caller column
        object.__setattr__(topo, "_by_host", placement.group(svc_host, len(hosts)))
        object.__setattr__(topo, "_by_disk", placement.group(svc_disk + 1, len(disks) + 1))
        return topo

