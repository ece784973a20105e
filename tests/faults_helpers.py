"""Helpers for the fault tests: a small cloud, a twin with a control plane and an injector,
and per-tick observation of health, logs and metrics.

The cloud (``TOPOLOGY``)::

    web (entry, h1, d1) --> api (h2, d2) --0.5--> db (h3, d3, standby h4)
        \\-> auth (h3, d3)

With 60 requests/s, a flat day and no noise, every service runs below 40% utilisation and
health is about 0.998.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from opstwin.faults.injector import Injector
from opstwin.faults.spec import FaultsSpec, parse_fault
from opstwin.twin.control import ACTIONS, ControlPlane, Ticket
from opstwin.twin.model import Twin
from opstwin.twin.telemetry import Frame
from opstwin.twin.spec import DiurnalSpec, LoadSpec, TopologySpec

TOPOLOGY = {
    "hosts": [
        {"name": "h1", "cpu": 16, "disks": [{"name": "d1", "size": "100GB", "used": "10GB"}]},
        {"name": "h2", "cpu": 16, "disks": [{"name": "d2", "size": "100GB", "used": "10GB"}]},
        {"name": "h3", "cpu": 16, "disks": [{"name": "d3", "size": "100GB", "used": "10GB"}]},
        {"name": "h4", "cpu": 16, "disks": [{"name": "d4", "size": "100GB"}]},
    ],
    "services": [
        {"name": "web", "host": "h1", "entry": True, "replicas": 2, "capacity": 100, "latency": "20ms",
         "slo": "500ms", "disk": "d1", "depends_on": ["api", "auth"]},
        {"name": "api", "host": "h2", "replicas": 2, "capacity": 150, "latency": "15ms", "disk": "d2",
         "depends_on": [{"service": "db", "calls": 0.5}]},
        {"name": "auth", "host": "h3", "replicas": 2, "capacity": 300, "latency": "5ms", "disk": "d3"},
        {"name": "db", "host": "h3", "standby_host": "h4", "replicas": 1, "capacity": 400, "latency": "5ms",
         "disk": "d3"},
    ],
}


def topology() -> TopologySpec:
    return TopologySpec.model_validate(TOPOLOGY)


@dataclass
class Rig:
    """A twin, its control plane and an injector, plus what has been observed so far."""

    twin: Twin
    control: ControlPlane
    injector: Injector
    health: list[float] = field(default_factory=list)
    logs: Counter = field(default_factory=Counter)  # (service, template name) -> lines
    frames: list[dict[str, Any]] = field(default_factory=list)

    def advance(self, seconds: float) -> Frame:
        """Run `seconds` of sim time; keep health, log lines and a copy of per-tick metrics."""
        frame = None
        for _ in range(int(round(seconds / self.twin.tick_seconds))):
            frame = self.twin.advance()
            self.health.append(self.twin.health)
            names = self.twin.topo.services
            for s, t, c in frame.logs.counts():
                self.logs[(names[s], t)] += c
            self.frames.append({
                "rate": frame.rate.copy(), "p50": frame.p50.copy(), "p99": frame.p99.copy(),
                "error": frame.error.copy(), "cpu": frame.cpu.copy(), "memory": frame.memory.copy(),
                "restarts": frame.restarts.copy(), "up": frame.up.copy(), "disk_used": frame.disk_used.copy(),
                "disk_io_errors": frame.disk_io_errors.copy(),
            })
        return frame

    def inject(self, fault: dict[str, Any]):
        return self.injector.inject(parse_fault({"at": 0, **fault}))

    def request(self, action: str, target: str, params: dict[str, Any] | None = None) -> Ticket:
        return self.control.request(action, target, params or {}, requester="test")

    def lines(self, template: str, service: str | None = None) -> int:
        return sum(c for (s, t), c in self.logs.items() if t == template and (service is None or s == service))

    def series(self, metric: str, name: str, since: int = 0) -> np.ndarray:
        """One component's metric per tick from tick index `since` (services; disks for disk_*)."""
        topo = self.twin.topo
        i = topo.disk_index(name) if metric.startswith("disk") else topo.index(name)
        return np.array([f[metric][i] for f in self.frames[since:]])

    def mark(self) -> int:
        """The current tick index, to slice what comes after."""
        self.logs.clear()
        return len(self.frames)

    def mean_health(self, last_seconds: float) -> float:
        n = int(round(last_seconds / self.twin.tick_seconds))
        return float(np.mean(self.health[-n:]))


def rig(*, rps: float = 60.0, seed: int = 1, faults: FaultsSpec | None = None, duration: float | None = None) -> Rig:
    load = LoadSpec(rps=rps, noise=0.0, diurnal=DiurnalSpec(amplitude=0.0))
    twin = Twin(topology(), load, seed=seed, tick=10.0)
    twin.log_background = 0.0  # only what the faults cause: tests count lines exactly
    control = ControlPlane(twin)
    return Rig(twin, control, Injector(twin, control, faults, seed=seed, duration=duration))


def no_action_failures(monkeypatch) -> None:
    """Make every control-plane action succeed (their seeded failures are tested elsewhere)."""
    for kind in ACTIONS.values():
        monkeypatch.setattr(kind, "fail_probability", 0.0)
