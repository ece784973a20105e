"""The straightforward model, for comparison only: one SimPy process per service.

Each service is its own process that wakes every tick and computes its load, utilisation,
latency and errors in plain Python from its callers' and dependencies' last values. It is the
model a first attempt would write; `opstwin bench twin --naive` times it against
:class:`twin.model.Twin` on the same topology to show what vectorizing buys.
"""

from __future__ import annotations

import math

import simpy

from opstwin.twin.rng import generator
from opstwin.twin.spec import LoadSpec, TopologySpec
from opstwin.twin.topology import Topology


class NaiveTwin:
    def __init__(self, topology: TopologySpec, load: LoadSpec, seed: int = 0, tick: float = 10.0) -> None:
        self.topo = Topology.build(topology)
        self.load, self.tick = load, tick
        self.env = simpy.Environment()
        self.rng = generator(seed, "naive")
        n = self.topo.n_services
        self.rate = [0.0] * n
        self.p50 = [0.0] * n
        self.err = [0.0] * n
        specs = [self.topo.service_spec(s) for s in self.topo.services]
        entries = [i for i in range(n) if self.topo.entry[i]]
        self.callers = [[(self.topo.index(c), self.topo.graph.edges[c, s]["calls"]) for c in self.topo.dependents(s)]
                        for s in self.topo.services]
        self.deps = [[self.topo.index(d) for d in self.topo.dependencies(s)] for s in self.topo.services]
        for i, spec in enumerate(specs):  # level order: callers run before callees each tick
            self.env.process(self._service(i, spec, 1.0 / len(entries) if i in entries else 0.0))

    def _service(self, i, spec, share):
        while True:
            yield self.env.timeout(self.tick)
            t = self.env.now
            d = self.load.diurnal
            rate = share * self.load.rps * (1 + d.amplitude * math.cos(2 * math.pi * (t - d.peak) / 86400.0))
            if share:
                rate *= max(0.0, 1 + self.load.noise * float(self.rng.standard_normal()))
            rate += sum(self.rate[c] * calls for c, calls in self.callers[i])
            self.rate[i] = rate
            rho = rate / (spec.capacity * spec.replicas)
            rc = min(rho, 0.98)
            own50 = spec.latency / (1 - rc)
            ok = (1 - spec.error_rate) * (1 - max(0.0, 1 - 1 / rho) if rho > 1 else 1.0)
            for dep in self.deps[i]:  # dependencies' values from the previous tick
                ok *= 1 - self.err[dep]
            self.err[i] = 1 - ok
            self.p50[i] = own50 + max((self.p50[dep] for dep in self.deps[i]), default=0.0)

    def run(self, duration: float) -> None:
        self.env.run(until=duration + self.tick / 2)
