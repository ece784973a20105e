"""The twin: a SimPy cloud whose per-tick state is a handful of numpy vector operations.

One row per service, host and disk. Discrete happenings (a deployment, an action finishing,
a fault starting) are SimPy events; between them :meth:`Twin.advance` runs the environment up
to the next tick and recomputes the whole cloud at once:

1. user load at the entry services (diurnal cycle x seeded noise x effects);
2. request rates flow to dependencies, level by level (one sparse product per level);
3. capacity from replicas that are up, host CPU contention; utilisation rho of the admitted
   rate (a rate limit admits at most its cap; requests above it fail fast, 429);
4. own latency (queueing: p50 = S/(1-rho), p99 = S(2 + 3 rho/(1-rho)), sharp near saturation)
   and own errors (intrinsic, effects, rate-limit rejections, load shedding above rho = 1,
   failed or full disks);
5. errors and latency flow back from dependencies (log-space product; critical-path max);
6. memory (with leaks and OOM kills), disks (writes, fills), restarts;
7. log lines per (service, template), drawn where a condition holds plus a low background
   (:mod:`twin.logs`: causes write mixes of shared templates; text only when an agent reads);
8. health H (see :mod:`twin.health`): :attr:`Twin.health`, ground truth, kept out of the frame;
9. telemetry noise (see :class:`twin.spec.TelemetrySpec`): binomial error counts, latency
   jitter, per-service noise levels, scrape gaps (stale samples). H and the twin-side
   consumers (faults' tick updates, the control plane) use the true state :attr:`Twin.truth`.

What agents observe is the :class:`twin.telemetry.Frame` :meth:`Twin.advance` returns.
Legitimate load surges (flash crowds), routine benign deployments and organic disk growth
are part of the twin too: they look like faults to a monitor, and are not.
Faults and agents never touch the arrays directly: faults go through :attr:`Twin.effects`,
agents through the control plane (:mod:`twin.control`).

Per-service figures are float32 (:data:`FIGURES`): seven significant digits are far more than a rate,
a share or a latency means, and the tick is bound by memory traffic (at 100,000 services each pass over
an array is 0.27 ms in float64 against 0.15 ms in float32 on the project's machine). What stays float64:
times, hosts and disks (bytes); the success chain (``ok = 1 - err``, its logs and their flow back), where
``1 - 0.0005`` in float32 would keep the error share to 1e-4 of itself and a five-nines service's to 1%
(a frame's error share is stored as float32 after it, to 1e-7 of itself); the cumulative sums of a Poisson
split (100,000 float32 partial sums drift).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import numpy as np
import simpy

from opstwin.twin.effects import Effects
from opstwin.twin.eventlog import EventLog
from opstwin.twin.health import health
from opstwin.twin import logs, placement
from opstwin.twin.logs import CAUSE_ID
from opstwin.twin.noise import Observer
from opstwin.twin.rng import generator, poisson_split
from opstwin.twin.spec import (DeploymentSpec, LoadSpec, RandomDeploymentsSpec, TelemetrySpec, TopologySpec,
                               VersionChanges)
from opstwin.twin.telemetry import Frame
from opstwin.twin.topology import Topology

RESTART_SECONDS = 30.0  # a restarted or OOM-killed replica set is down this long
TIMEOUT_SECONDS = 30.0
IDLE_CPU = 0.05  # share of a replica's full-load CPU it burns idle (runtime, GC, probes): more replicas, more CPU
BASE_RTT = 0.0005  # seconds, host round trip on a healthy network  # latency is capped here: callers give up
LOG_LINES_PER_ERROR = 0.2  # one ERROR line per 5 failed requests
CRASH_LINES = 3.0  # WARN/ERROR lines per replica crash
SLOW_LINES_PER_REQUEST = 0.002  # WARN lines per request when p99 misses the SLO
C = CAUSE_ID
FIGURES = np.float32  # the dtype of per-service figures (see the module docstring)
ERRORS = ("svc_err_add", "svc_reject")  # error shares: float64, as the success chain (see the module docstring)


@dataclass(frozen=True)
class Version:
    """One deployed version of a service and the parameters it runs with."""

    name: str
    capacity: float
    latency: float
    error_rate: float
    cpu: float
    memory_leak: float

    def changed(self, name: str, c: VersionChanges) -> Version:
        return Version(
            name=name,
            capacity=self.capacity * c.capacity_factor,
            latency=self.latency * c.latency_factor,
            error_rate=self.error_rate if c.error_rate is None else c.error_rate,
            cpu=self.cpu * c.cpu_factor,
            memory_leak=c.memory_leak,
        )


class Versions:
    """Each service's deployed versions, oldest first (``versions[i][-1]`` runs now). A service's list is
    made when first asked for: 100,000 services need no 100,000 objects before anything deploys."""

    def __init__(self, specs: list) -> None:
        self._specs = specs
        self._lists: dict[int, list[Version]] = {}

    def __getitem__(self, i: int) -> list[Version]:
        i = int(i)
        if i not in self._lists:
            s = self._specs[i]
            self._lists[i] = [Version(s.version, s.capacity, s.latency, s.error_rate, s.cpu, 0.0)]
        return self._lists[i]

    def __len__(self) -> int:
        return len(self._specs)


class Twin:
    """A running digital twin of one topology (see the module docstring)."""

    def __init__(
        self,
        topology: TopologySpec,
        load: LoadSpec | None = None,
        deployments: list[DeploymentSpec] = (),
        *,
        seed: int = 0,
        tick: float = 10.0,
        log: EventLog | None = None,
        telemetry: TelemetrySpec | None = None,
        random_deployments: list[RandomDeploymentsSpec] = (),
        duration: float | None = None,
    ) -> None:
        self.topo = Topology.build(topology)
        self.load = load or LoadSpec()
        # a bare twin reports its exact state (its physics, for tests); scenarios default to realistic noise
        self.telemetry = telemetry if telemetry is not None else TelemetrySpec(noise=0, scrape_gap=0)
        self.duration = duration
        self.tick_seconds = float(tick)
        self.seed = seed
        self.log = log or EventLog()
        self.env = simpy.Environment()
        self.rng = generator(seed, "twin")
        self.log_rng = generator(seed, "twin", "logs")  # its own stream: log draws never shift the metrics'
        self.log_background = logs.BACKGROUND_RATE
        self.tick_count = 0
        self.frame: Frame | None = None  # what the monitoring stack reports (noisy)
        self.truth: Frame | None = None  # the same tick without telemetry noise (twin-side only)
        self.health = 1.0  # ground-truth H of the last tick (for the engine and metrics; not in the frame)
        self.tick_listeners: list[Callable[[Frame], None]] = []
        self._init_state()
        self.observer = Observer(self.telemetry, self.topo.n_services, seed)
        self._surges = self._plan_surges()
        for dep in [*deployments, *self._plan_deployments(random_deployments)]:
            self.env.process(self._deployment(dep))

    # ----------------------------------------------------------------- state
    def _init_state(self) -> None:
        topo = self.topo
        n, h, d = topo.n_services, len(topo.hosts), len(topo.disks)
        specs = [topo.service_spec(s) for s in topo.services]
        self.versions = Versions(specs)
        # one pass over the specs, one column per parameter; error rates stay float64 (see ERRORS)
        table = np.array([(s.capacity, s.latency, s.error_rate, s.cpu, s.replicas, s.memory, s.write_per_request, s.slo)
                          for s in specs], dtype=np.float64).reshape(n, 8).T.copy()
        self.err0 = table[2].copy()
        self.capacity, self.latency, _, self.cpu_per, self.replicas, self.mem_limit, self.write_pr, \
            self.slo = table.astype(FIGURES)
        self.leak = np.zeros(n, dtype=FIGURES)
        f = lambda values: np.array(values, dtype=np.float64)  # noqa: E731
        self.svc_host = topo.svc_host.copy()
        self.svc_disk = topo.svc_disk.copy()
        self.mem_extra = np.zeros(n, dtype=FIGURES)
        self.deployed_at = np.full(n, -np.inf)  # sim time of each service's last version change
        self.change_until = np.full(n, -np.inf)  # end of the latest change window (an action) touching each service
        self.restarts = np.zeros(n, dtype=FIGURES)
        self.down_until = np.full(n, -1.0)  # all replicas down (OOM kill, restart of a single replica)
        self.rolling_until = np.full(n, -1.0)  # a rolling restart in progress: half capacity
        self.host_cpu = f([hs.cpu for hs in topo.spec.hosts])
        disks = [dk for hs in topo.spec.hosts for dk in hs.disks]
        self.disk_size = f([dk.size for dk in disks])
        self.disk_used_bytes = f([dk.used for dk in disks])
        self.disk_base = self.disk_used_bytes.copy()  # lasting data
        self.disk_rotating = np.zeros(len(disks))  # logs, deleted after the disk's retention
        self.disk_junk = np.zeros(len(disks))  # what faults write and nothing rotates away
        self.disk_retention = f([dk.retention for dk in disks])
        self.disk_growth = f([dk.growth for dk in disks]) / 86400.0  # bytes/s of organic growth
        self._growing = bool(self.disk_growth.any())
        weights = self.load.weights
        share = np.array([weights.get(s, 1.0) if e else 0.0 for s, e in zip(topo.services, topo.entry)])
        self.entry_share = (share / share.sum() if share.sum() > 0 else share).astype(FIGURES)

        self.effects = Effects()
        reg = self.effects.register
        for name, op, ident, size in (
            ("svc_cap_mult", "mul", 1.0, n), ("svc_lat_mult", "mul", 1.0, n), ("svc_lat_add", "add", 0.0, n),
            ("svc_err_add", "max", 0.0, n), ("svc_leak", "add", 0.0, n), ("svc_down", "add", 0.0, n),
            ("svc_log", "max", -1.0, n), ("svc_cpu_add", "add", 0.0, n), ("svc_crash_rate", "add", 0.0, n),
            ("svc_rate_mult", "mul", 1.0, n), ("host_steal", "add", 0.0, h), ("host_down", "add", 0.0, h),
            ("host_net_lat", "add", 0.0, h), ("disk_fill", "add", 0.0, d), ("disk_failed", "add", 0.0, d),
            ("partition", "add", 0.0, None), ("svc_rate_cap", "min", math.inf, n), ("svc_reject", "add", 0.0, n),
        ):
            # partition: sparse, keys host * h + peer; per-service fields are figures, host and disk ones float64
            dtype = FIGURES if name.startswith("svc_") and name not in ERRORS else np.float64
            arr = None if size is None else np.zeros(size, dtype=dtype)
            if arr is not None:
                setattr(self, name, arr)
            reg(name, arr, op, ident)
        self._by_host: placement.Grouping | None = None  # services grouped by host; reset by place()
        self._snapshots: dict[str, np.ndarray] = {}  # read-only copies frames share until the array changes
        self._writers: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # see _disk_writers; reset by place()
        self._pad50 = np.zeros(n + 1, dtype=FIGURES)
        self._log0: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # err0 seen, ok0, log(ok0): _baseline_ok
        self._no_throttle = np.zeros(n, dtype=FIGURES)  # a read-only zero `throttled` for ticks without a rate limit
        self._no_throttle.flags.writeable = False
        self._pad99 = np.zeros(n + 1, dtype=FIGURES)
        self._entry_idx = np.flatnonzero(self.entry_share > 0)
        self._callers = np.flatnonzero(topo.dep_pad[:, 0] < n)  # services with dependencies
        # deepest level first; dependency indices transposed per level so the max over a
        # service's dependencies is a reduction over contiguous rows
        # callers are bucketed by their number of dependencies (1-2, 3-4, 5-8, ...), each bucket's table as
        # wide as its widest caller: a few callers with many dependencies do not widen every caller's gather
        self._forward = [fwd.astype(FIGURES) for fwd in topo.forward]
        self._backward = []
        for (a, b), back in reversed(list(zip(topo.levels, topo.backward))):
            if back.nnz:
                degree = np.diff(back.indptr)
                buckets = []
                for low, high in ((1, 2), (3, 4), (5, 8), (9, 16), (17, 1 << 30)):
                    rows = np.flatnonzero((degree >= low) & (degree <= high))
                    if len(rows):
                        width = int(degree[rows].max())
                        buckets.append((rows, np.ascontiguousarray(topo.dep_pad[a + rows, :width].T)))
                whole = sum(len(r) for r, _ in buckets) == b - a
                self._backward.append(((a, b), back, buckets, whole))  # float64: it carries log(ok)

    # ------------------------------------------------------------------ time
    @property
    def now(self) -> float:
        return float(self.env.now)

    def advance(self) -> Frame:
        """Run discrete events up to the next tick, then compute that tick's state."""
        self.tick_count += 1
        self.env.run(until=self.tick_count * self.tick_seconds)
        self.truth, self.health = self._compute()
        frame = self.frame = self.observer.observe(self.truth, self.tick_seconds)
        for listener in self.tick_listeners:
            listener(self.truth)
        return frame

    def run(self, duration: float, on_frame: Callable[[Frame], None] | None = None) -> None:
        """Advance tick by tick until `duration` seconds of sim time have passed."""
        while self.tick_count * self.tick_seconds < duration - 1e-9:
            frame = self.advance()
            if on_frame:
                on_frame(frame)

    def diurnal(self, t: float) -> float:
        d = self.load.diurnal
        return 1.0 + d.amplitude * math.cos(2 * math.pi * (t - d.peak) / 86400.0)

    # ------------------------------------------------------------- the tick
    def _compute(self) -> tuple[Frame, float]:
        topo, t, dt, on = self.topo, self.now, self.tick_seconds, self.effects.active
        n = topo.n_services
        # 1. user load (noise only where users arrive)
        rate = self.entry_share * (self.load.rps * self.diurnal(t))
        ei = self._entry_idx
        rate[ei] *= np.maximum(1.0 + self.load.noise * self.rng.standard_normal(len(ei)), 0.0)
        if self._surges:
            self._apply_surges(rate, t)
        # 2. rates flow to dependencies
        for (a, b), fwd in zip(topo.levels[1:], self._forward[1:]):
            rate[a:b] += fwd @ rate[:a]
        if on("svc_rate_mult"):
            rate *= self.svc_rate_mult
        load, limited = rate, None  # a rate limit admits at most its cap; the rest fail fast (429)
        if on("svc_rate_cap"):
            load = np.minimum(rate, self.svc_rate_cap)
            limited = np.divide(rate - load, rate, out=np.zeros(n), where=rate > 0)
        # 3. capacity and utilisation
        up = (self.down_until <= t)
        if on("host_down"):
            up &= (self.host_down == 0)[self.svc_host]
        if on("svc_down"):
            up &= self.svc_down == 0
        cap = self.capacity * self.replicas
        if on("svc_cap_mult"):
            cap *= self.svc_cap_mult
        cap *= up
        rolling = self.rolling_until > t
        if rolling.any():
            cap[rolling] *= 0.5
        with np.errstate(divide="ignore", invalid="ignore"):
            rho = load / cap
        rho[cap <= 0] = np.inf
        rho[load == 0] = 0.0
        busy = np.minimum(rho, 1.0)
        cpu = (IDLE_CPU + (1 - IDLE_CPU) * busy) * self.cpu_per * self.replicas
        if on("svc_cpu_add"):
            cpu += self.svc_cpu_add
        demand = np.bincount(self.svc_host, weights=cpu, minlength=len(topo.hosts)) + self.host_steal
        over = demand > self.host_cpu
        if over.any():  # CPU contention: every service on the host slows down alike
            factor = np.where(over, self.host_cpu / np.maximum(demand, 1e-9), 1.0)[self.svc_host]
            rho /= factor
            busy = np.minimum(rho, 1.0)
        # 4. own latency and errors
        rc = np.minimum(rho, 0.98)
        s = self.latency * self.svc_lat_mult if on("svc_lat_mult") else self.latency
        q = rc / (1 - rc)
        own50 = s * (1 + q)
        own99 = s * (2 + 3 * q)
        if on("host_net_lat") or on("svc_lat_add"):
            net = self.host_net_lat[self.svc_host] + self.svc_lat_add
            own50 += net
            own99 += 2 * net
        ok0, log_ok0 = self._baseline_ok()
        ok = ok0 * up
        if on("svc_err_add"):
            ok *= 1 - self.svc_err_add
        turned = limited  # share of requests the service's own rate limit answers 429 (a subset of its errors)
        if on("svc_reject"):
            turned = 1 - (1 - (turned if turned is not None else 0.0)) * (1 - self.svc_reject)
        if turned is not None:
            ok *= 1 - turned
        overloaded = rho > 1
        shed = np.zeros(n)
        if overloaded.any():
            shed[overloaded] = 1 - 1 / rho[overloaded]
            ok *= 1 - shed
        svc_full = svc_io = None
        if len(topo.disks):
            has_disk, sd, write_w = self._disk_writers()
            disk_full = self.disk_used_bytes >= self.disk_size * 0.999
            if disk_full.any():
                svc_full = has_disk & disk_full[sd]
                ok *= 1 - 0.5 * svc_full
            if on("disk_failed"):
                svc_io = has_disk & (self.disk_failed > 0)[sd]
                ok *= 1 - 0.9 * svc_io
        if on("partition"):
            ok[self.partitioned(k for k, v in self.effects.bent("partition").items() if v > 0)] = 0.0
        own_err = 1 - ok
        # 5. errors and latency flow back from dependencies
        log_ok = self._log_ok(ok, ok0, log_ok0)
        p50, p99 = self._pad50, self._pad99
        p50[:n], p99[:n] = own50, own99
        for (a, b), back, buckets, whole in self._backward:
            log_ok[a:b] += back @ log_ok
            for p in (p50, p99):  # add each caller's slowest dependency (0 for a caller without any)
                slowest = np.empty(b - a, dtype=FIGURES) if whole else np.zeros(b - a, dtype=FIGURES)
                for rows, deps in buckets:
                    slowest[rows] = p[deps].max(axis=0)
                p[a:b] += slowest
        err = own_err.copy()  # a service without dependencies fails only on its own
        err[self._callers] = -np.expm1(log_ok[self._callers])
        p50n, p99n = np.minimum(p50[:n], TIMEOUT_SECONDS), np.minimum(p99[:n], TIMEOUT_SECONDS)
        # 6. memory, restarts, disks
        if on("svc_leak") or self.leak.any():
            self.mem_extra += (self.leak + self.svc_leak) * dt * up
        mem_per = self.mem_limit * (0.3 + 0.3 * busy) + self.mem_extra
        oom = up & (mem_per >= self.mem_limit)
        if oom.any():
            self.restarts[oom] += self.replicas[oom]
            self.mem_extra[oom] = 0.0
            self.down_until[oom] = t + RESTART_SECONDS
        if on("svc_crash_rate"):
            self.restarts += self.svc_crash_rate * dt
        err32 = err.astype(FIGURES)  # for what reads errors as figures
        served = rate * (1 - err32)
        disk_io = np.zeros(len(topo.disks), dtype=np.int64)
        if len(topo.disks):
            writes = np.bincount(sd, weights=served * write_w, minlength=len(topo.disks))
            self.disk_rotating += writes * dt - self.disk_rotating * np.minimum(dt / self.disk_retention, 1.0)
            if on("disk_fill"):
                self.disk_junk += self.disk_fill * dt
            if self._growing:
                self.disk_base += self.disk_growth * dt
            np.minimum(self.disk_size, self.disk_base + self.disk_rotating + self.disk_junk, out=self.disk_used_bytes)
            if on("disk_failed"):
                bad = np.flatnonzero(self.disk_failed > 0)
                disk_io[bad] = self.rng.poisson(50.0, len(bad))
        # 7. logs: the dominant condition per service, counts drawn where one holds
        log_cause, lam = self._log_conditions(rate, own_err, err, p99n, mem_per, oom, up, svc_full, svc_io, shed,
                                              turned, dt)
        batch = self._logs(log_cause, lam)
        # 8. health over entry services
        e = ei
        h = health(rate[e], err[e], np.maximum(p50n[e], 1e-6), np.maximum(p99n[e], 1e-6), self.slo[e])
        # telemetry counts 429s apart from server errors, as status-code classes do
        # (a service that is down answers nothing, 429 included: its failures are all server-side)
        throttled, server_err = ((self._no_throttle, err32) if turned is None else
                                 ((turned * up).astype(FIGURES), (err - turned * up).astype(FIGURES)))
        return Frame(
            tick=self.tick_count, t=t, rate=rate, throughput=served, p50=p50n, p99=p99n, error=server_err,
            throttled=throttled,
            cpu=cpu, memory=mem_per / self.mem_limit, restarts=np.floor(self.restarts), up=up,
            disk_used=np.divide(self.disk_used_bytes, self.disk_size, out=np.zeros_like(self.disk_size),
                                where=self.disk_size > 0),
            disk_io_errors=disk_io, host_cpu=demand / self.host_cpu,
            host_rtt=BASE_RTT * (1 + 0.1 * self.rng.random(len(topo.hosts))) + self.host_net_lat,
            logs=batch, deployed_at=self._snapshot("deployed_at"),
            change_until=self._snapshot("change_until"), svc_host=self._snapshot("svc_host"),
        ), h

    def _baseline_ok(self) -> tuple[np.ndarray, np.ndarray]:
        """ok0 = 1 - err0, the success share of each service's version, and its log (for _log_ok): worked
        out again only when err0 changed (with a version, or written by a test), not every tick."""
        if self._log0 is None or not np.array_equal(self._log0[0], self.err0):
            ok0 = 1 - self.err0
            self._log0 = (self.err0.copy(), ok0, np.log(np.maximum(ok0, 1e-12)))
        return self._log0[1], self._log0[2]

    def _log_ok(self, ok: np.ndarray, ok0: np.ndarray, log_ok0: np.ndarray) -> np.ndarray:
        """log(ok) per service, reusing log(ok0) where ok is still its baseline ok0 = 1 - err0: nearly
        every service on nearly every tick. np.log of float64 has no SIMD loop on many CPUs (about 9 ns a
        value here, 0.9 ms a tick at 100,000 services); ok0 changes only with a version."""
        log_ok = log_ok0.copy()
        moved = np.flatnonzero(ok != ok0)
        log_ok[moved] = np.log(np.maximum(ok[moved], 1e-12))
        return log_ok

    def _log_conditions(self, rate, own_err, err, p99, mem, oom, up, svc_full, svc_io, shed, turned, dt):
        """Per service the expected WARN/ERROR line count, and a function giving the cause of the dominant
        condition (:data:`twin.logs.CAUSES`) of the services asked about: those that drew lines, a few
        thousand of 100,000 (working causes out for all of them was a dozen passes over the estate).

        Lines come from errors (one per LOG_LINES_PER_ERROR failed requests), slow requests,
        memory pressure and replicas that are down; the cause is the most specific condition that
        holds, a fault's own tag (e.g. a certificate) included. Which templates a cause writes is
        drawn afterwards (:func:`twin.logs.draw`), from mixes that share templates between causes.
        """
        on = self.effects.active
        lam = rate * err * (dt * LOG_LINES_PER_ERROR)
        slow = p99 > self.slo
        if slow.any():
            lam[slow] += rate[slow] * (dt * SLOW_LINES_PER_REQUEST)
        pressure = mem > 0.85 * self.mem_limit
        if pressure.any():
            lam[pressure] += 1.0
        down = ~up
        if down.any():
            lam[down] = np.maximum(lam[down], 5.0)
        if on("svc_crash_rate"):  # a crashing replica writes its last words and the kubelet's back-off
            lam += self.svc_crash_rate * dt * CRASH_LINES
        if oom.any():
            lam[oom] = self.replicas[oom]
        svc_log = self.svc_log if on("svc_log") else None
        host_down = self.host_down if on("host_down") else None

        def causes(at: np.ndarray) -> np.ndarray:
            """The causes of services `at` (asked within this tick); a later condition overrides an earlier one."""
            tpl = np.full(len(at), C["error"], dtype=np.int64)
            if turned is not None:  # a rate limiter's rejections write 429 warnings, not server errors
                tpl[turned[at] > 0.5 * own_err[at]] = C["limited"]
            tpl[slow[at]] = C["slow"]
            tpl[pressure[at]] = C["memory"]
            tpl[(err[at] - own_err[at]) > 0.01] = C["upstream"]
            tpl[shed[at] > 0.01] = C["overload"]
            tpl[down[at]] = C["down"]
            if svc_log is not None:
                tag = svc_log[at]
                tpl[tag >= 0] = tag[tag >= 0].astype(np.int64)
            if svc_full is not None:
                tpl[svc_full[at]] = C["disk_full"]
            if svc_io is not None:
                tpl[svc_io[at]] = C["io_error"]
            if host_down is not None:
                tpl[host_down[self.svc_host[at]] > 0] = C["unreachable"]
            tpl[oom[at]] = C["oom"]
            return tpl

        return causes, lam

    def _logs(self, cause: Callable[[np.ndarray], np.ndarray], lam: np.ndarray) -> logs.LogBatch:
        """Draw this tick's lines: the conditions' counts, split over their causes' templates, plus a low
        background of every template on every service."""
        where, counts = poisson_split(self.log_rng, lam)
        n = self.topo.n_services
        # background: Poisson(rate) lines per service, drawn as one Poisson total spread uniformly (the same
        # distribution, without a draw per service per tick)
        total = int(self.log_rng.poisson(self.log_background * n)) if self.log_background > 0 else 0
        bg_at = np.sort(self.log_rng.integers(n, size=total))
        services = np.concatenate([where, bg_at])
        causes = np.concatenate([cause(where), np.full(total, logs.BACKGROUND)])
        svc, tpl, cnt = logs.draw(self.log_rng, services, causes, np.concatenate([counts, np.ones(total, np.int64)]), n)
        return logs.LogBatch(svc, tpl, cnt, seed=self.seed, tick=self.tick_count, t=self.now, topo=self.topo,
                             svc_host=self._snapshot("svc_host"))

    # ----------------------------------------------------------- confounders
    def _plan_surges(self) -> list[tuple[float, float, float, float, np.ndarray]]:
        """(start, end, ramp, factor, entry indices) of every flash crowd: the scheduled ones and
        those drawn from the seed (stream ``load/surges``), in start order."""
        topo, out = self.topo, []
        for s in self.load.surges:
            idx = np.array([topo.index(s.entry)]) if s.entry is not None else self._entry_idx
            out.append((s.at, s.at + s.duration, s.ramp, s.factor, idx))
        r = self.load.random_surges
        if r is not None:
            rng = generator(self.seed, "load", "surges")
            end = r.end if r.end is not None else (self.duration or r.start + 86400.0)
            t = r.start
            while True:
                t += float(rng.exponential(3600.0 / r.rate_per_hour))
                if t >= end:
                    break
                factor = float(rng.uniform(*r.factor))
                length = float(rng.uniform(*r.duration))
                entry = self._entry_idx[int(rng.integers(len(self._entry_idx)))] if len(self._entry_idx) else 0
                out.append((round(t), round(t) + length, min(120.0, length / 2), factor, np.array([entry])))
        return sorted(out, key=lambda x: x[:4])

    def _apply_surges(self, rate: np.ndarray, t: float) -> None:
        """Multiply the entry services' rates by every surge active at `t` (trapezoid in time)."""
        for start, end, ramp, factor, idx in self._surges:
            if start <= t < end:
                level = min(1.0, (t - start) / ramp, (end - t) / ramp) if ramp > 0 else 1.0
                rate[idx] *= 1.0 + (factor - 1.0) * level

    def _plan_deployments(self, specs: list[RandomDeploymentsSpec]) -> list[DeploymentSpec]:
        """Routine deployments drawn from the seed (stream ``deployments/random[k]``): Poisson arrivals,
        a uniform service, a version whose latency and capacity move by at most `change`."""
        out: list[DeploymentSpec] = []
        for k, r in enumerate(specs):
            rng = generator(self.seed, "deployments", f"random[{k}]")
            pool = list(r.services) if r.services else list(self.topo.services)
            end = r.end if r.end is not None else (self.duration or r.start + 86400.0)
            t, n = r.start, 0
            while True:
                t += float(rng.exponential(3600.0 / r.rate_per_hour))
                if t >= end:
                    break
                service = pool[int(rng.integers(len(pool)))]
                lat, cap = (float(x) for x in rng.uniform(1 - r.change, 1 + r.change, 2))
                n += 1
                out.append(DeploymentSpec(at=float(round(t)), service=service, version=f"r{k}.{n}",
                                          changes=VersionChanges(latency_factor=lat, capacity_factor=cap),
                                          rollout=r.rollout))
        return out

    # --------------------------------------------------------- deployments
    def deploy(self, service: str, version: str, changes: VersionChanges) -> None:
        """Switch `service` to a new version now (its previous one stays for rollback)."""
        i = self.topo.index(service)
        new = self.versions[i][-1].changed(version, changes)
        self.versions[i].append(new)
        self._apply_version(i)

    def rollback(self, service: str) -> Version | None:
        """Return `service` to its previous version; the removed version is returned."""
        i = self.topo.index(service)
        if len(self.versions[i]) < 2:
            return None
        removed = self.versions[i].pop()
        self._apply_version(i)
        return removed

    def redeploy(self, service: str, version: Version) -> None:
        i = self.topo.index(service)
        self.versions[i].append(version)
        self._apply_version(i)

    def version(self, service: str) -> str:
        return self.versions[self.topo.index(service)][-1].name

    def _apply_version(self, i: int) -> None:
        self.deployed_at[i] = self.now
        self._snapshots.pop("deployed_at", None)
        self.mem_extra[i] = 0.0  # new processes: whatever the old ones leaked is gone
        v = self.versions[i][-1]
        self.capacity[i], self.latency[i], self.err0[i] = v.capacity, v.latency, v.error_rate
        self.cpu_per[i], self.leak[i] = v.cpu, v.memory_leak

    def _deployment(self, dep: DeploymentSpec):
        yield self.env.timeout(dep.at)
        old = self.version(dep.service)
        self.log.emit(self.now, "deployment_started", service=dep.service, version=dep.version, previous=old)
        self.deploy(dep.service, dep.version, dep.changes)
        yield self.env.timeout(dep.rollout)
        self.log.emit(self.now, "deployment_finished", service=dep.service, version=dep.version)

    # ------------------------------------------------------------- helpers
    def restart(self, service: str) -> None:
        """A rolling restart: for RESTART_SECONDS half the capacity is restarting (the service
        stays up, a single replica goes down), and memory is back to baseline."""
        i = self.topo.index(service)
        if self.replicas[i] <= 1:
            self.down_until[i] = self.now + RESTART_SECONDS
        else:
            self.rolling_until[i] = self.now + RESTART_SECONDS
        self.mem_extra[i] = 0.0
        self.restarts[i] += self.replicas[i]

    def mark_change(self, kind: str, target: str, until: float) -> None:
        """Note an operational change window (an action, planned to end at `until`) on `target` and the
        services it touches: a host's services, a disk's writers. Frames carry it, as a change feed or
        a dashboard annotation would."""
        topo = self.topo
        if kind == "service":
            where = np.array([topo.index(target)])
        elif kind == "host":
            where = np.flatnonzero(self.svc_host == topo.host_index(target))
        else:
            where = np.flatnonzero(self.svc_disk == topo.disk_index(target))
        self.change_until[where] = np.maximum(self.change_until[where], until)
        self._snapshots.pop("change_until", None)

    def place(self, i: int, host: int, disk: int | None = None) -> None:
        """Run service `i` on `host` from now on, writing to `disk` if given (a migration, a failover,
        their undo)."""
        self.svc_host[i] = host
        if disk is not None:
            self.svc_disk[i] = disk
            self._writers = None
        self._by_host = None
        self._snapshots.pop("svc_host", None)

    def _disk_writers(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(writes to a disk, that disk or 0, bytes per request or 0) per service: kept until a move."""
        if self._writers is None:
            has_disk = self.svc_disk >= 0
            self._writers = (has_disk, np.where(has_disk, self.svc_disk, 0), self.write_pr * has_disk)
        return self._writers

    def _snapshot(self, name: str) -> np.ndarray:
        """A read-only copy of the array `name` (deployed_at, change_until, svc_host) for frames: one copy
        serves every tick until the twin changes the array (a deployment, an action, a migration)."""
        snap = self._snapshots.get(name)
        if snap is None:
            snap = self._snapshots[name] = getattr(self, name).copy()
            snap.flags.writeable = False
        return snap

    def services_on_hosts(self, hosts: Iterable[int]) -> np.ndarray:
        """Indices of the services placed on any of `hosts` now, ascending; O(their count) once grouped."""
        if self._by_host is None:
            self._by_host = placement.group(self.svc_host, len(self.topo.hosts))
        return placement.members_of(self._by_host, hosts)

    def partitioned(self, pairs: Iterable[int]) -> np.ndarray:
        """Services that call across a cut host pair (keys ``host * hosts + peer``), ascending; the cost
        follows the services on the cut hosts, not the estate."""
        h = len(self.topo.hosts)
        keys = np.array(sorted(set(pairs)), dtype=np.int64)
        on = self.services_on_hosts(np.concatenate([keys // h, keys % h]).tolist())
        return placement.cut(self.svc_host, self.topo.dep_pad, on, keys, h)

    def service_host(self, service: str) -> str:
        return self.topo.hosts[self.svc_host[self.topo.index(service)]]

    def snapshot(self, service: str) -> dict[str, Any]:
        """The last tick's true figures for one service (no telemetry noise), as plain data (for tests)."""
        i = self.topo.index(service)
        f = self.truth
        if f is None:
            return {}
        return {
            "rate": float(f.rate[i]), "p50": float(f.p50[i]), "p99": float(f.p99[i]),
            "error": float(f.error[i]), "cpu": float(f.cpu[i]), "memory": float(f.memory[i]),
            "restarts": int(f.restarts[i]), "up": bool(f.up[i]),
        }
