"""Synthetic topologies: layered service graphs of any size, drawn from a seed.

Used by `opstwin bench twin` and by scenarios with ``topology: {generate: ...}``. Services are
spread over layers (entry layer first); each service calls 1..max_deps services of deeper
layers, so the graph is acyclic by construction. Hosts are sized for roughly half load at the
daily peak, and each host has one disk that its services log to.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel

from opstwin.twin.bulk import paused_gc
from opstwin.twin.rng import generator
from opstwin.twin.spec import Calls, Dependency, DiskSpec, GenerateSpec, HostSpec, ServiceSpec, TopologySpec


def generate(g: GenerateSpec, seed: int) -> TopologySpec:
    """A topology of `g.services` services drawn from `seed` (see the module docstring)."""
    with paused_gc():
        return _generate(g, seed)


def _generate(g: GenerateSpec, seed: int) -> TopologySpec:
    rng = generator(seed, "synthetic-topology")
    n = g.services
    n_hosts = g.hosts or max(1, -(-n // 8))
    layers = min(g.layers, n)
    entries = min(g.entries, max(1, n // layers))
    # layers grow geometrically from the entry layer, so every service has a caller and
    # fan-out stays bounded (about n ** (1 / layers) children per service)
    growth = max((n / entries) ** (1.0 / max(layers - 1, 1)), 1.0)
    raw = [entries * growth**k for k in range(layers)]
    layer_sizes = [max(1, int(round(x / sum(raw) * n))) for x in raw]
    layer_sizes[0] = entries
    layer_sizes[-1] += n - sum(layer_sizes)
    while layer_sizes[-1] < 1:  # more layers than services fill: take from the largest other deeper layer
        k = max(range(1, len(layer_sizes) - 1), key=layer_sizes.__getitem__)
        layer_sizes[k] -= 1
        layer_sizes[-1] += 1
    layer_sizes = [s for s in layer_sizes if s > 0]
    names, layer_of = [], []
    for li, size in enumerate(layer_sizes):
        for k in range(size):
            names.append("frontend-%d" % k if li == 0 else f"svc-{li}-{k}")
            layer_of.append(li)
    starts = np.cumsum([0, *layer_sizes])
    # specs are copies of one validated prototype with their own values (valid by construction; a test
    # checks that validating them gives the same): validating 100,000 services one by one took seconds
    disk0 = DiskSpec(name="host-0-disk", size=2e12, used=2e11)
    host0 = HostSpec(name="host-0", cpu=32.0, memory=128e9, disks=[disk0])
    like_host, like_disk = _Like(host0, ("name", "disks")), _Like(disk0, ("name",))
    hosts = [like_host(f"host-{h}", [like_disk(f"host-{h}-disk")]) for h in range(n_hosts)]
    placement = rng.permutation(np.arange(n) % n_hosts)
    # a request is routed to one of a service's children (calls = 1/children), plus a few
    # occasional calls to shared deeper backends (calls = 0.1)
    deps_of: list[dict[int, float]] = [{} for _ in range(n)]
    for li in range(1, len(layer_sizes)):  # every service gets one caller in the layer above
        callers = rng.integers(starts[li - 1], starts[li], size=starts[li + 1] - starts[li]).tolist()
        for j, caller in enumerate(callers, start=int(starts[li])):
            deps_of[caller][j] = 1.0
    for i in range(starts[-2]):
        children = deps_of[i]
        for j in children:
            children[j] = 1.0 / len(children)
        li = layer_of[i]
        for j in rng.integers(starts[li + 1], starts[-1], size=int(rng.integers(0, g.max_deps))):
            children.setdefault(int(j), 0.1)
    services = []
    dep0 = Dependency(service=names[0], calls=1.0)
    svc0 = ServiceSpec(name=names[0], host="host-0", standby_host=None, replicas=3, capacity=150.0, latency=0.005,
                       slo=1.0, disk="host-0-disk", depends_on=[], entry=True, write_per_request=500.0)
    # capacity and latency per service: one array draw, the same numbers as a pair of draws per service
    drawn = rng.uniform([150, 0.005], [400, 0.03], size=(n, 2)).tolist()
    like_dep, like_svc = _Like(dep0, ("service", "calls")), _Like(svc0, (
        "name", "host", "standby_host", "capacity", "latency", "slo", "disk", "depends_on", "entry"))
    for i, name in enumerate(names):
        li = layer_of[i]
        deps = [like_dep(names[j], round(c, 6)) for j, c in sorted(deps_of[i].items())]
        host = int(placement[i])
        standby = (host + 1) % n_hosts if n_hosts > 1 else None
        capacity, latency = drawn[i]
        services.append(like_svc(name, f"host-{host}", f"host-{standby}" if standby is not None else None,
                                 capacity, latency, 1.0 if li == 0 else 0.5, f"host-{host}-disk", deps, li == 0))
    return TopologySpec.model_construct(hosts=hosts, services=services)  # its checks hold by construction


class _Like:
    """Copies of the validated `proto`, each with its own values of `fields` (positional; not validated:
    valid by construction). What ``model_copy(update=...)`` does, without its generic copying: that was
    most of the cost of 200,000 specs."""

    def __init__(self, proto: BaseModel, fields: tuple[str, ...]) -> None:
        self.cls, self.base, self.fields = type(proto), proto.__dict__, fields
        self.fields_set = proto.__pydantic_fields_set__ | set(fields)

    def __call__(self, *values: Any) -> Any:
        m = self.cls.__new__(self.cls)
        fields = self.base.copy()
        fields.update(zip(self.fields, values))
        object.__setattr__(m, "__dict__", fields)
        object.__setattr__(m, "__pydantic_fields_set__", set(self.fields_set))
        object.__setattr__(m, "__pydantic_extra__", None)
        object.__setattr__(m, "__pydantic_private__", None)
        return m


def default_rps(topology: TopologySpec) -> float:
    """A user request rate that keeps the busiest service near 40% at the daily mean.

    Computed from the spec alone (no compiled topology, which the twin builds once): per-service
    arrivals are a fixed point of ``rate = entry share + calls^T rate``, reached exactly after as many
    sparse products as the graph is deep, since the dependency graph is acyclic."""
    import scipy.sparse as sp  # here: `opstwin validate` imports this module and needs no scipy

    services = topology.services
    n = len(services)
    table = Calls.of(topology)  # walked once: the scenario's checks and the twin read the same calls
    rows, cols, vals = table.caller, table.callee, table.calls
    if (cols < 0).any():
        raise ValueError(f"unknown service {table.callee_names[int(np.argmax(cols < 0))]!r} in a service's depends_on")
    callee = sp.csr_matrix((vals, (cols, rows)), shape=(n, n))  # callee row, caller column
    entry = np.array([s.entry for s in services], dtype=bool)
    if not entry.any():  # as the twin: what nothing calls is user-facing
        entry = np.bincount(cols, minlength=n) == 0
    start = entry / max(int(entry.sum()), 1)
    rate = start
    for _ in range(n + 1):
        new = start + callee @ rate
        if np.array_equal(new, rate):
            break
        rate = new
    cap = np.array([s.capacity * s.replicas for s in services])
    return float(0.4 / np.max(rate / cap))
