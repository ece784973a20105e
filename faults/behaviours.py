"""What each fault type does to the twin, tick by tick.

A :class:`Fault` is one injected fault. It changes the twin only through effects owned by
its id (``twin.effects.set(fault.id, ...)``), so ending it (:meth:`Fault.end`) is one
``effects.clear`` and leaves no residue, however faults overlap. The exceptions are
``bad_deployment`` and ``memory_leak`` (:class:`Versioned`), which ship as a new version through
the twin's real deployment mechanism so that the control plane's ``rollback_deployment`` is what
undoes them.

Life cycle, driven by :class:`faults.injector.Injector`: ``begin()`` at injection, then
``update(frame)`` after every tick while the fault is active (ramps, and symptoms that
follow the twin's state, such as GC pauses as memory fills), then ``end()`` when a fixing
action succeeds (:meth:`Fault.fixed_by`) or a transient fault's duration is over.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from opstwin.twin.logs import cause_id
from opstwin.twin.spec import VersionChanges

if TYPE_CHECKING:
    from opstwin.faults.catalog import FaultType
    from opstwin.faults.spec import FaultBase
    from opstwin.twin.control import Ticket
    from opstwin.twin.model import Twin
    from opstwin.twin.telemetry import Frame


class Fault:
    """One injected fault (see the module docstring). Subclasses override the hooks."""

    def __init__(self, fault_id: str, spec: FaultBase, kind: FaultType, twin: Twin) -> None:
        self.id, self.spec, self.kind, self.twin = fault_id, spec, kind, twin
        self.started = twin.now
        self.resolved_at: float | None = None
        self.resolved_by: str | None = None
        topo = twin.topo
        index = {"service": topo.index, "host": topo.host_index, "disk": topo.disk_index}[kind.target]
        self.i = index(spec.target)  # index of the target in its kind's arrays

    # ------------------------------------------------------------- hooks
    def begin(self) -> None:
        """Apply the fault's initial effects."""

    def update(self, frame: Frame) -> None:
        """Called after every tick while active: ramps and state-dependent symptoms."""

    def end(self) -> None:
        """Remove what the fault does (the fixing action has done its own part)."""
        self.twin.effects.clear(self.id)

    def back(self) -> bool:
        """Whether undoing the action that ended this fault brings it back (see Versioned)."""
        return False

    def fixes(self) -> list[tuple[str, str]]:
        """(action, component) pairs that end this fault."""
        return [(action, self.spec.target) for action in self.kind.fixes]

    def fixed_by(self, ticket: Ticket) -> bool:
        return ticket.status == "succeeded" and (ticket.action, ticket.target) in self.fixes()

    # ----------------------------------------------------------- helpers
    @property
    def active(self) -> bool:
        return self.resolved_at is None

    def set(self, field: str, index: int, value: float) -> None:
        self.twin.effects.set(self.id, field, index, value)

    def progress(self, ramp: float) -> float:
        """0 -> 1 over `ramp` seconds since injection (1 at once when ramp is 0)."""
        if ramp <= 0:
            return 1.0
        return float(min(1.0, (self.twin.now - self.started) / ramp))

    def set_logs(self, services: np.ndarray, cause: str) -> None:
        """Tag exactly `services` with the log cause `cause` (twin.logs.MIXES: what they write while
        it dominates; untag those tagged before and no longer listed)."""
        want = set(int(s) for s in services)
        tagged = getattr(self, "_tagged", set())
        for s in sorted(tagged - want):
            self.twin.effects.unset(self.id, "svc_log", s)
        for s in sorted(want - tagged):
            self.set("svc_log", s, cause_id(cause))
        self._tagged = want

    def ground_truth(self) -> dict[str, Any]:
        return {
            "id": self.id, "type": self.kind.name, "category": self.kind.category, "target": self.spec.target,
            "target_kind": self.kind.target, "start": self.started, "fixes": [list(f) for f in self.fixes()],
            "params": self.spec.params(), "resolved_at": self.resolved_at, "resolved_by": self.resolved_by,
        }


# ------------------------------------------------------------------ storage
class DiskFill(Fault):
    def begin(self) -> None:
        tw, d = self.twin, self.i
        if self.spec.rate is not None:
            rate = self.spec.rate
        else:
            free = max(tw.disk_size[d] - tw.disk_used_bytes[d], 0.01 * tw.disk_size[d])
            rate = free / (self.spec.fill_in or 1800.0)
        self.rate = float(rate)
        self.set("disk_fill", d, self.rate)

    def ground_truth(self) -> dict[str, Any]:
        return {**super().ground_truth(), "params": {**self.spec.params(), "bytes_per_second": self.rate}}


class DiskFailure(Fault):
    def begin(self) -> None:
        self.set("disk_failed", self.i, 1.0)


# ------------------------------------------------------------------ compute
class HostFailure(Fault):
    def begin(self) -> None:
        self.set("host_down", self.i, 1.0)


class CpuSaturation(Fault):
    """A noisy neighbour takes `intensity` of the host's CPU: CPU demand from outside the
    host's services, ramping up, so every service there queues (cpu_throttled)."""

    def begin(self) -> None:
        x = self.spec.intensity
        self.steal = float(self.twin.host_cpu[self.i] * x / (1.0 - x))
        self.update(None)

    def update(self, frame) -> None:
        self.set("host_steal", self.i, self.steal * self.progress(self.spec.ramp))
        self.set_logs(np.flatnonzero(self.twin.svc_host == self.i), "throttle")


class Versioned(Fault):
    """A fault that ships as a new version of its target, rolled out with the twin's own deployment
    events (``deployment_started`` now, ``deployment_finished`` after `rollout`); it lasts until
    that version is rolled back (a transient one is rolled back when it expires)."""

    def deploy(self, changes: VersionChanges, rollout: float, version: str | None = None) -> None:
        tw, target = self.twin, self.spec.target
        previous = tw.version(target)
        self.version = version or f"{previous}.{len(tw.versions[self.i])}"
        tw.log.emit(tw.now, "deployment_started", service=target, version=self.version, previous=previous)
        tw.deploy(target, self.version, changes)
        self.bad = tw.versions[self.i][-1]
        tw.env.process(self._finish(rollout))

    def _finish(self, rollout: float):
        yield self.twin.env.timeout(rollout)
        if self._deployed():
            self.twin.log.emit(self.twin.now, "deployment_finished", service=self.spec.target, version=self.version)

    def _deployed(self) -> bool:
        return any(v is self.bad for v in self.twin.versions[self.i])

    def fixed_by(self, ticket) -> bool:
        return super().fixed_by(ticket) and not self._deployed()

    def back(self) -> bool:
        return self._deployed()  # the rollback was undone: the version runs again, and so does the fault

    def end(self) -> None:
        super().end()
        if self.resolved_by == "expired" and self.twin.versions[self.i][-1] is self.bad:
            self.twin.rollback(self.spec.target)  # a transient bad version is rolled back automatically

    def ground_truth(self) -> dict[str, Any]:
        return {**super().ground_truth(), "params": {**self.spec.params(), "version": self.version}}


class MemoryLeak(Versioned):
    """A new version leaks `rate` bytes/s per replica: past 80% of the limit GC pauses slow the
    service and some requests time out; at the limit the replicas are OOM-killed and start again
    (the twin does that). The leak is in the code: a restart (or a reboot) empties memory and buys
    time, but it fills again; only rolling the version back ends it."""

    ROLLOUT = 60.0

    def begin(self) -> None:
        tw, i = self.twin, self.i
        self.rate = float(self.spec.rate if self.spec.rate is not None
                          else tw.mem_limit[i] * 0.6 / (self.spec.oom_after or 900.0))
        self.deploy(VersionChanges(memory_leak=self.rate), self.ROLLOUT)

    def update(self, frame) -> None:
        gc = float(np.clip((frame.memory[self.i] - 0.8) / 0.2, 0.0, 1.0))
        self.set("svc_lat_mult", self.i, 1.0 + 14.0 * gc * gc)
        self.set("svc_err_add", self.i, 0.15 * gc)

    def ground_truth(self) -> dict[str, Any]:
        gt = super().ground_truth()
        return {**gt, "params": {**gt["params"], "bytes_per_second": self.rate}}


class ConnectionPoolExhaustion(Fault):
    """Leaked connections fill the pool: waits grow, then requests fail (pool_exhausted)."""

    def begin(self) -> None:
        self.set_logs(np.array([self.i]), "pool")
        self.update(None)

    def update(self, frame) -> None:
        p = self.progress(self.spec.ramp)
        self.set("svc_lat_add", self.i, self.spec.wait * p)
        self.set("svc_err_add", self.i, self.spec.error_rate * p * p)


class DependencyOutage(Fault):
    """The target stops answering (no restarts: it is hung or its provider is down); its
    callers fail with upstream errors."""

    def begin(self) -> None:
        self.set("svc_down", self.i, 1.0)

    def fixes(self) -> list[tuple[str, str]]:
        out = super().fixes()
        if self.twin.topo.svc_standby[self.i] < 0:
            out = [f for f in out if f[0] != "failover"]
        return out


# ------------------------------------------------------------------ deploy
class BadDeployment(Versioned):
    """A new version of the target, slower (and maybe failing more); it lasts until that version
    is rolled back."""

    def begin(self) -> None:
        s = self.spec
        self.deploy(VersionChanges(latency_factor=s.latency_factor, capacity_factor=s.capacity_factor,
                                   error_rate=s.error_rate), s.rollout, s.version)
        self.set_logs(np.array([self.i]), "regression")


class CrashLoop(Fault):
    def begin(self) -> None:
        tw, i, s = self.twin, self.i, self.spec
        if s.share >= 1.0:
            self.set("svc_down", i, 1.0)
        else:
            self.set("svc_cap_mult", i, 1.0 - s.share)
        self.set("svc_crash_rate", i, tw.replicas[i] * s.share / s.backoff)
        self.set_logs(np.array([i]), "crash")


class ConfigDrift(Fault):
    def begin(self) -> None:
        self.set("svc_err_add", self.i, self.spec.error_rate)
        self.set("svc_lat_mult", self.i, self.spec.latency_factor)
        self.set_logs(np.array([self.i]), "config")


class CertificateExpiry(Fault):
    """Every TLS handshake with the target fails; its callers log cert_expired."""

    def begin(self) -> None:
        topo = self.twin.topo
        self.set("svc_err_add", self.i, 1.0)
        callers = [topo.index(c) for c in topo.dependents(self.spec.target)]
        self.set_logs(np.array([self.i, *callers]), "tls")


# ------------------------------------------------------------------ network
class NetworkLatency(Fault):
    """Calls into the host's services are slow (packet loss, retransmits); CPU stays normal."""

    def begin(self) -> None:
        self.update(None)

    def update(self, frame) -> None:
        self.set("host_net_lat", self.i, self.spec.latency * self.progress(self.spec.ramp))


class NetworkPartition(Fault):
    """Calls between the target host and its peer time out after 5 s (both directions)."""

    TIMEOUT = 5.0

    def begin(self) -> None:
        tw = self.twin
        self.peer = tw.topo.host_index(self.spec.peer)
        h = len(tw.topo.hosts)
        self.set("partition", self.i * h + self.peer, 1.0)
        self.set("partition", self.peer * h + self.i, 1.0)
        self._callers: set[int] = set()
        self.update(None)

    def update(self, frame) -> None:
        callers = cut_callers(self.twin, self.i, self.peer)
        for s in sorted(self._callers - set(callers.tolist())):
            self.twin.effects.unset(self.id, "svc_lat_add", s)
        for s in callers:
            self.set("svc_lat_add", int(s), self.TIMEOUT)
        self._callers = set(callers.tolist())
        self.set_logs(callers, "partition")

    def fixes(self) -> list[tuple[str, str]]:
        return [(a, h) for a in self.kind.fixes for h in (self.spec.target, self.spec.peer)]


def cut_callers(twin: Twin, h1: int, h2: int) -> np.ndarray:
    """Indices of the services on h1 (h2) that call a service on h2 (h1), as placed now."""
    h = len(twin.topo.hosts)
    return twin.partitioned([h1 * h + h2, h2 * h + h1])


class TrafficSpike(Fault):
    """Requests into the target multiply by `factor` (ramping); the extra load flows on to
    its dependencies in proportion to the share of their traffic that comes from it."""

    def begin(self) -> None:
        base = flow(self.twin, self.twin.entry_share)
        own = np.zeros_like(base)
        own[self.i] = base[self.i] if base[self.i] > 0 else 1.0
        mine = flow(self.twin, own)
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(base > 0, mine / base, 0.0)
        share[self.i] = 1.0
        self.touched = np.flatnonzero(share > 1e-6)
        self.share = share[self.touched]
        self.update(None)

    def update(self, frame) -> None:
        extra = (self.spec.factor - 1.0) * self.progress(self.spec.ramp)
        last = getattr(self, "_extra", None)
        if last == extra:
            return
        self._extra = extra
        for j, sh in zip(self.touched, self.share):
            self.set("svc_rate_mult", int(j), 1.0 + extra * sh)


def flow(twin: Twin, start: np.ndarray) -> np.ndarray:
    """Request rates that `start` (per-service arrivals) causes, through the dependency graph."""
    rate = np.array(start, dtype=np.float64)
    for (a, b), fwd in zip(twin.topo.levels[1:], twin.topo.forward[1:]):
        rate[a:b] += fwd @ rate[:a]
    return rate
