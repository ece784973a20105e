"""The straightforward model, for comparison only: one SimPy process per service.

Each service is its own process that wakes every tick and does, in plain Python, the per-service
work :class:`twin.model.Twin` does for a fault-free estate: its load from its callers, utilisation
under host CPU contention, latency and errors (its own and its dependencies'), memory, disk writes,
log lines (the condition's Poisson count, a template per line, the background), and what the
monitoring stack reports of it (binomial error counts, log-normal latency jitter, scrape gaps).
It is the model a first attempt would write; `opstwin bench twin --naive` times it against the
twin on the same topology to show what vectorizing buys, so the two must do the same work: a
naive model that skipped hosts, logs or telemetry noise would flatter the ratio it is compared
by (it did, before the twin gained them).

Values a service needs from others are the latest ones: callers run first in level order, so
request rates are this tick's; dependencies and host demand are the previous tick's (a real
per-process model has the same lag). Random draws are scalar, per service, from one stream.
"""

from __future__ import annotations

import bisect
import math

import simpy

from opstwin.twin import logs
from opstwin.twin.model import BASE_RTT, IDLE_CPU, LOG_LINES_PER_ERROR, SLOW_LINES_PER_REQUEST, TIMEOUT_SECONDS
from opstwin.twin.rng import generator
from opstwin.twin.spec import LoadSpec, TelemetrySpec, TopologySpec
from opstwin.twin.topology import Topology

C = logs.CAUSE_ID
CDF = [list(row) for row in logs.CDF.tolist()]


class NaiveTwin:
    def __init__(self, topology: TopologySpec, load: LoadSpec, seed: int = 0, tick: float = 10.0,
                 telemetry: TelemetrySpec | None = None) -> None:
        self.topo = Topology.build(topology)
        self.load, self.tick = load, tick
        self.telemetry = telemetry if telemetry is not None else TelemetrySpec()
        self.env = simpy.Environment()
        self.rng = generator(seed, "naive")
        topo = self.topo
        n = topo.n_services
        self.rate = [0.0] * n
        self.p50 = [0.0] * n
        self.p99 = [0.0] * n
        self.err = [0.0] * n
        self.reported: list[tuple[float, float, float, float]] = [(0.0, 0.0, 0.0, 0.0)] * n
        self.lines = 0  # WARN/ERROR lines written, over the run
        hosts = topo.spec.hosts
        self.host_cpu = [h.cpu for h in hosts]
        self.demand = [0.0] * len(hosts)  # last tick's CPU demand per host
        self._demand_next = [0.0] * len(hosts)
        self.host_rtt = [BASE_RTT] * len(hosts)
        disks = [d for h in hosts for d in h.disks]
        self.disk_size = [d.size for d in disks]
        self.disk_base = [d.used for d in disks]
        self.disk_growth = [d.growth / 86400.0 for d in disks]
        self.disk_retention = [d.retention for d in disks]
        self.disk_rotating = [0.0] * len(disks)
        self.disk_used = list(self.disk_base)
        specs = [topo.service_spec(s) for s in topo.services]
        entries = [i for i in range(n) if topo.entry[i]]
        self.callers = [[(topo.index(c), topo.graph.edges[c, s]["calls"]) for c in topo.dependents(s)]
                        for s in topo.services]
        self.deps = [[topo.index(d) for d in topo.dependencies(s)] for s in topo.services]
        self.dep_calls = [[(topo.index(d), topo.graph.edges[s, d]["calls"]) for d in topo.dependencies(s)]
                          for s in topo.services]
        level = generator(seed, "naive", "levels")
        self.sigma = [self.telemetry.latency_jitter * self.telemetry.noise * level.lognormal(0.0, self.telemetry.spread)
                      for _ in range(n)]
        for i, spec in enumerate(specs):  # level order: callers run before callees each tick
            disk = int(topo.svc_disk[i])
            self.env.process(self._service(i, spec, int(topo.svc_host[i]), disk,
                                           1.0 / len(entries) if i in entries else 0.0))
        self.env.process(self._hosts())

    def _hosts(self):
        """After the services of a tick: host demand and round trips, disks' rotation and growth."""
        while True:
            yield self.env.timeout(self.tick)
            self.demand, self._demand_next = self._demand_next, [0.0] * len(self.demand)
            for h in range(len(self.host_rtt)):
                self.host_rtt[h] = BASE_RTT * (1 + 0.1 * float(self.rng.random()))
            for d in range(len(self.disk_size)):
                self.disk_rotating[d] -= self.disk_rotating[d] * min(self.tick / self.disk_retention[d], 1.0)
                self.disk_base[d] += self.disk_growth[d] * self.tick
                self.disk_used[d] = min(self.disk_size[d], self.disk_base[d] + self.disk_rotating[d])

    def _service(self, i, spec, host, disk, share):
        rng, dt, tel = self.rng, self.tick, self.telemetry
        cap = spec.capacity * spec.replicas
        while True:
            yield self.env.timeout(dt)
            t = self.env.now
            d = self.load.diurnal
            rate = share * self.load.rps * (1 + d.amplitude * math.cos(2 * math.pi * (t - d.peak) / 86400.0))
            if share:
                rate *= max(0.0, 1 + self.load.noise * float(rng.standard_normal()))
            rate += sum(self.rate[c] * calls for c, calls in self.callers[i])
            self.rate[i] = rate
            # utilisation, slowed down alike by CPU contention on the host
            rho = rate / cap if rate > 0 else 0.0
            cpu = (IDLE_CPU + (1 - IDLE_CPU) * min(rho, 1.0)) * spec.cpu * spec.replicas
            self._demand_next[host] += cpu
            if self.demand[host] > self.host_cpu[host]:
                rho *= self.demand[host] / self.host_cpu[host]
            busy = min(rho, 1.0)
            # own latency and errors, then the dependencies' (their previous tick)
            q = min(rho, 0.98) / (1 - min(rho, 0.98))
            own50, own99 = spec.latency * (1 + q), spec.latency * (2 + 3 * q)
            ok = 1 - spec.error_rate
            shed = 1 - 1 / rho if rho > 1 else 0.0
            ok *= 1 - shed
            full = disk >= 0 and self.disk_used[disk] >= self.disk_size[disk] * 0.999
            if full:
                ok *= 0.5
            own_err = 1 - ok
            for dep, calls in self.dep_calls[i]:  # a request fails when any of its calls does
                ok *= (1 - self.err[dep]) ** calls
            err = self.err[i] = 1 - ok
            p50 = self.p50[i] = min(own50 + max((self.p50[dep] for dep in self.deps[i]), default=0.0), TIMEOUT_SECONDS)
            p99 = self.p99[i] = min(own99 + max((self.p99[dep] for dep in self.deps[i]), default=0.0), TIMEOUT_SECONDS)
            # memory and disk writes
            memory = 0.3 + 0.3 * busy
            served = rate * (1 - err)
            if disk >= 0:
                self.disk_rotating[disk] += served * spec.write_per_request * dt
            # log lines: the dominant condition's count, a template per line, the background
            cause, lam = C["error"], rate * err * dt * LOG_LINES_PER_ERROR
            if p99 > spec.slo:
                cause, lam = C["slow"], lam + rate * dt * SLOW_LINES_PER_REQUEST
            if memory > 0.85:
                cause, lam = C["memory"], lam + 1.0
            if err - own_err > 0.01:
                cause = C["upstream"]
            if shed > 0.01:
                cause = C["overload"]
            if full:
                cause = C["disk_full"]
            count = int(rng.poisson(lam)) if lam > 0 else 0
            background = int(rng.poisson(logs.BACKGROUND_RATE))
            templates = [bisect.bisect_left(CDF[cause], float(rng.random())) for _ in range(count)]
            templates += [bisect.bisect_left(CDF[logs.BACKGROUND], float(rng.random())) for _ in range(background)]
            self.lines += len(templates)
            # what monitoring reports: failed requests counted, latency jittered, now and then a stale sample
            if tel.noise == 0 and tel.scrape_gap == 0:
                self.reported[i] = (rate, err, p50, p99)
                continue
            if float(rng.random()) < tel.scrape_gap:
                continue
            requests = int(round(rate * dt / max(tel.noise, 1e-9) ** 2))
            reported_err = int(rng.binomial(requests, min(max(err, 0.0), 1.0))) / requests if requests else err
            r50 = min(p50 * math.exp(self.sigma[i] * float(rng.standard_normal())), TIMEOUT_SECONDS)
            r99 = min(max(p99 * math.exp(2 * self.sigma[i] * float(rng.standard_normal())), r50), TIMEOUT_SECONDS)
            self.reported[i] = (rate, reported_err, r50, r99)

    def run(self, duration: float) -> None:
        self.env.run(until=duration + self.tick / 2)
