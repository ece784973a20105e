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

from opstwin.twin.spec import ServiceSpec, TopologySpec


@dataclass(frozen=True)
class Topology:
    spec: TopologySpec
    graph: nx.DiGraph  # edge a -> b: service a calls service b; attribute `calls`
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

    def dependents(self, service: str) -> list[str]:
        """Services that call `service`, sorted by name."""
        return sorted(self.graph.predecessors(service))

    def dependencies(self, service: str) -> list[str]:
        return sorted(self.graph.successors(service))

    def services_on_host(self, host: str) -> list[str]:
        h = self._host_index[host]
        return [self.services[i] for i in np.flatnonzero(self.svc_host == h)]

    def services_on_disk(self, disk: str) -> list[str]:
        d = self._disk_index[disk]
        return [self.services[i] for i in np.flatnonzero(self.svc_disk == d)]

    @classmethod
    def build(cls, spec: TopologySpec) -> Topology:
        specs = {s.name: s for s in spec.services}
        graph = nx.DiGraph()
        graph.add_nodes_from(specs)
        for s in spec.services:
            for d in s.dependencies():
                graph.add_edge(s.name, d.service, calls=d.calls)
        order = {s.name: i for i, s in enumerate(spec.services)}
        level: dict[str, int] = {}
        for name in nx.lexicographical_topological_sort(graph, key=order.__getitem__):
            parents = list(graph.predecessors(name))
            level[name] = 1 + max(level[p] for p in parents) if parents else 0
        services = sorted(specs, key=lambda n: (level[n], order[n]))
        idx = {n: i for i, n in enumerate(services)}
        n = len(services)
        levels, start = [], 0
        for lv in range(max(level.values()) + 1):
            size = sum(1 for s in services if level[s] == lv)
            levels.append((start, start + size))
            start += size

        hosts = [h.name for h in spec.hosts]
        host_idx = {h: i for i, h in enumerate(hosts)}
        disks, disk_host = [], []
        for h in spec.hosts:
            for d in h.disks:
                disks.append(d.name)
                disk_host.append(host_idx[h.name])
        disk_idx = {d: i for i, d in enumerate(disks)}

        svc_host = np.array([host_idx[specs[s].host] for s in services], dtype=np.int64)
        svc_standby = np.array(
            [host_idx[specs[s].standby_host] if specs[s].standby_host else -1 for s in services], dtype=np.int64
        )
        svc_disk = np.array([disk_idx[specs[s].disk] if specs[s].disk else -1 for s in services], dtype=np.int64)

        width = max((graph.out_degree(s) for s in services), default=0) or 1
        dep_pad = np.full((n, width), n, dtype=np.int64)
        calls_pad = np.zeros((n, width), dtype=np.float64)
        rows, cols, vals = [], [], []
        for i, s in enumerate(services):
            deps = sorted(graph.successors(s), key=idx.__getitem__)
            for k, d in enumerate(deps):
                dep_pad[i, k] = idx[d]
                calls_pad[i, k] = graph.edges[s, d]["calls"]
                rows.append(i)
                cols.append(idx[d])
                vals.append(graph.edges[s, d]["calls"])
        calls = sp.csr_matrix((vals, (rows, cols)), shape=(n, n))  # caller row, callee column
        callee_view = calls.T.tocsr()  # callee row, caller column
        forward = [callee_view[a:b, :a] for a, b in levels]
        backward = [calls[a:b, :] for a, b in levels]

        entry = np.array([specs[s].entry for s in services], dtype=bool)
        if not entry.any():  # default: what nothing depends on is user-facing
            entry[levels[0][0] : levels[0][1]] = True

        topo = cls(
            spec=spec, graph=graph, services=services, hosts=hosts, disks=disks, levels=levels,
            svc_host=svc_host, svc_standby=svc_standby, svc_disk=svc_disk,
            disk_host=np.array(disk_host, dtype=np.int64), dep_pad=dep_pad, calls_pad=calls_pad,
            forward=forward, backward=backward, entry=entry,
        )
        object.__setattr__(topo, "_svc_index", idx)
        object.__setattr__(topo, "_host_index", host_idx)
        object.__setattr__(topo, "_disk_index", disk_idx)
        object.__setattr__(topo, "_specs", specs)
        return topo
