"""Standing baselines: teams that act without diagnosing, so a result can be read against them.

Selected in a scenario with ``agents: {baseline: shotgun}`` or ``{baseline: random}`` (or added to
an eval with ``opstwin eval --baselines``). Each replaces the diagnoser, coordinator, guard and
specialists with one agent that receives the monitors' alerts and sends action requests straight
to the control endpoint; the monitors and the twin are the team's own, so the difference in the
metrics is the value of diagnosis.

- ``shotgun``: when a component starts alerting, fire every fix the runbook knows for its kind at
  it, and every host fix at its host and every disk fix at its disk (for a service: the disk it
  writes to). Again if it is still alerting an hour later.
- ``random``: every `interval` while a component alerts, one fix drawn (with the agent's seeded
  generator) from everything the shotgun would fire for it.
"""

from __future__ import annotations

from typing import Any

from opstwin.agents.base import Agent, Context
from opstwin.agents.messages import ActionRequest, Alert, Message
from opstwin.agents.runbook import RUNBOOK
from opstwin.twin.topology import Topology

REFIRE = 3600.0  # seconds a shotgun waits before firing again at a component that still alerts


def fixes_by_kind() -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """Every distinct fix in the runbook per component kind, in runbook order."""
    out: dict[str, list[tuple[str, dict[str, Any]]]] = {"service": [], "disk": [], "host": []}
    for h in RUNBOOK:
        for action, params in h.fixes:
            if all(a != action for a, _ in out[h.kind]):
                out[h.kind].append((action, dict(params)))
    return out


class _Baseline(Agent):
    role = "baseline"

    def __init__(self, name: str, seed: int, topo: Topology, tick_seconds: float, control: str = "control") -> None:
        super().__init__(name, seed)
        self.topo, self.tick_seconds, self.control = topo, tick_seconds, control
        self.fixes = fixes_by_kind()
        self.alerting: dict[str, Alert] = {}  # component -> its latest alert
        self.actions = 0

    def _targets(self, alert: Alert) -> list[tuple[str, str, dict[str, Any]]]:
        """(action, target, params) for everything that could fix `alert`'s component, its host and disk."""
        out = [(a, alert.component, p) for a, p in self.fixes[alert.kind]]
        if alert.host:
            out += [(a, alert.host, p) for a, p in self.fixes["host"]]
        if alert.kind == "service":
            disk = self.topo.service_spec(alert.component).disk
            if disk:
                out += [(a, disk, p) for a, p in self.fixes["disk"]]
        return out

    def _fire(self, ctx: Context, action: str, target: str, params: dict[str, Any]) -> None:
        self.actions += 1
        ctx.send("request", "action", self.control,
                 ActionRequest(task=f"{self.name}-{self.actions}", action=action, target=target, params=params))

    def _read_alerts(self, inbox: list[Message]) -> list[str]:
        """Update the alerting set; the components that started alerting in this inbox."""
        new = []
        for m in inbox:
            if m.kind != "alert":
                continue  # action results: a baseline does not look back
            alert: Alert = m.parsed()
            if alert.cleared:
                self.alerting.pop(alert.component, None)
            else:
                if alert.component not in self.alerting:
                    new.append(alert.component)
                self.alerting[alert.component] = alert
        return new

    def state(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role, "alerting": len(self.alerting), "actions": self.actions}


class Shotgun(_Baseline):
    """Fires every allowed fix at an alerting component, its host and its disk."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.next_fire: dict[str, int] = {}  # component -> tick at which it may be fired at again

    def step(self, ctx: Context, inbox: list[Message]) -> None:
        self._read_alerts(inbox)
        refire = max(1, round(REFIRE / self.tick_seconds))
        for comp in sorted(self.alerting):
            if self.next_fire.get(comp, 0) > ctx.tick:
                continue
            for action, target, params in self._targets(self.alerting[comp]):
                self._fire(ctx, action, target, params)
            self.next_fire[comp] = ctx.tick + refire
            ctx.wake_at(ctx.tick + refire)


class RandomActions(_Baseline):
    """One random allowed fix per alerting component every `interval` seconds."""

    def __init__(self, *args: Any, interval: float = 300.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.interval = interval
        self.next_act: dict[str, int] = {}

    def step(self, ctx: Context, inbox: list[Message]) -> None:
        self._read_alerts(inbox)
        every = max(1, round(self.interval / self.tick_seconds))
        for comp in sorted(self.alerting):
            if self.next_act.get(comp, 0) > ctx.tick:
                continue
            options = self._targets(self.alerting[comp])
            action, target, params = options[int(self.rng.integers(len(options)))]
            self._fire(ctx, action, target, params)
            self.next_act[comp] = ctx.tick + every
            ctx.wake_at(ctx.tick + every)


BASELINES = {"shotgun": Shotgun, "random": RandomActions}
