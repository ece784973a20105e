"""What the page shows of a run, kept up to date from the engine's own hooks.

A :class:`Mirror` watches one :class:`~opstwin.engine.simulation.Simulation` through
``on_event`` (every incident-log line) and ``on_frame`` (every tick). Hooks only watch, so a
mirrored run writes the same incident log as any other run of that scenario and seed.

It is the experimenter's view, not an agent's: it knows the ground truth (which faults are
active, from ``fault_injected``/``fault_resolved``) beside what the team does (alerts,
incidents, diagnoses, auctions, actions, undos). Each service gets one state per tick, the
first that holds of:

- ``remediation``: a control-plane action is running on it, its host or its disk;
- ``faulty``: an active fault targets it, its host or its disk;
- ``degraded``: its telemetry misses its objectives (down, server errors above 5%, p99 over SLO);
- ``healthy``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from opstwin.engine.simulation import Simulation
    from opstwin.twin.telemetry import Frame

STATES = ("healthy", "degraded", "faulty", "remediation")
ERROR_BUDGET = 0.05  # a service failing more than this share of its requests is degraded
TIMELINE_KEEP = 500  # entries kept; the page shows the latest few
RECOVERED = 0.02  # health within this of the tick before a fault counts as recovered (as the eval counts it)


@dataclass(frozen=True)
class Entry:
    """One line of the incident timeline."""

    t: float  # sim seconds
    kind: str  # fault, fixed, alert, incident, diagnosis, award, action, done, failed, undo, escalation, closed
    text: str


@dataclass(frozen=True)
class Marker:
    """What is happening to a component: the fault on it, or the action running on it."""

    id: str  # fault or action id
    what: str  # fault type or action name
    target: str  # the component named in the event (a service, host or disk)


class Mirror:
    """The run's state as the page draws it (see the module docstring). Attach before ``start()``."""

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        self.faults: dict[str, Marker] = {}  # active, by fault id
        self.actions: dict[str, Marker] = {}  # running, by action id
        self.incidents: dict[str, str] = {}  # open, incident -> root
        self.alerting: dict[str, str] = {}  # component -> kind, while its last alert is not a clear
        self.alerts_sent = 0
        self.repairs: dict[str, float] = {}  # fault id -> seconds from injection to recovery (fixed by the team)
        self._recovering: dict[str, tuple[float, float]] = {}  # fault id -> (injected at, health before it)
        self._requester: dict[str, str] = {}  # action id -> who asked for it
        self._health = 1.0  # the last tick's health H
        self._before: dict[str, float] = {}  # fault id -> health the tick before its injection
        self.timeline: list[Entry] = []
        self.state: np.ndarray = np.zeros(0, dtype=np.int8)  # index into STATES, per service (topology order)
        self._started: dict[str, float] = {}  # fault id -> injection time
        self._tasks: dict[str, str] = {}  # task id -> "action target"
        self._kind_of: dict[str, str] | None = None  # component name -> service, host or disk
        sim.on_event(self._on_event)
        sim.on_frame(self._on_frame)

    # ----------------------------------------------------------- answers
    @property
    def mttr_s(self) -> float | None:
        """Mean seconds from a fault's injection until health is back (within 0.02 of the tick before
        it) after the action that ended it, over the faults fixed and recovered so far: the eval's
        MTTR (opstwin.evaluation.metrics), as far as the run has got."""
        return float(np.mean(list(self.repairs.values()))) if self.repairs else None

    def count(self, state: str) -> int:
        return int((self.state == STATES.index(state)).sum())

    def services_under(self, markers: dict[str, Marker]) -> dict[int, list[Marker]]:
        """Service index -> the markers that reach it (directly, through its host or through its disk)."""
        out: dict[int, list[Marker]] = {}
        for m in markers.values():
            for i in self.services_of(m.target):
                out.setdefault(i, []).append(m)
        return out

    def services_of(self, component: str) -> list[int]:
        """Indices of the services a component stands for: itself, those on a host now, those on a disk."""
        twin = self.sim.twin
        topo = twin.topo
        if self._kind_of is None:
            self._kind_of = {**{d: "disk" for d in topo.disks}, **{h: "host" for h in topo.hosts},
                             **{s: "service" for s in topo.services}}
        kind = self._kind_of.get(component)
        if kind == "service":
            return [topo.index(component)]
        if kind == "host":  # where its services run now (a migration moves them)
            return np.flatnonzero(twin.svc_host == topo.host_index(component)).tolist()
        if kind == "disk":
            return np.flatnonzero(twin.svc_disk == topo.disk_index(component)).tolist()
        return []

    # ------------------------------------------------------------ events
    def _add(self, t: float, kind: str, text: str) -> None:
        self.timeline.append(Entry(t, kind, text))
        if len(self.timeline) > TIMELINE_KEEP:
            del self.timeline[: len(self.timeline) - TIMELINE_KEEP]

    def _on_event(self, e: dict[str, Any]) -> None:
        kind, t = e["kind"], e["t"]
        if kind == "msg":
            self._on_message(t, e)
        elif kind in ("fault_injected", "fault_reopened"):
            self.faults[e["fault_id"]] = Marker(e["fault_id"], e["type"], e["target"])
            self._started.setdefault(e["fault_id"], t)
            self._before.setdefault(e["fault_id"], self._health)
            self.repairs.pop(e["fault_id"], None)  # reopened (an undo): its repair is the next one
            self._recovering.pop(e["fault_id"], None)
            verb = "injected" if kind == "fault_injected" else "back"
            self._add(t, "fault", f"{e['fault_id']} {e['type']} on {e['target']} {verb} (ground truth)")
        elif kind == "fault_resolved":
            self.faults.pop(e["fault_id"], None)
            if e["by"] != "expired" and self._requester.get(e["by"]) != "operator":  # fixed by the team
                self._recovering[e["fault_id"]] = (self._started.get(e["fault_id"], t),
                                                   self._before.get(e["fault_id"], self._health))
            self._add(t, "fixed", f"{e['fault_id']} {e['type']} on {e['target']} ended ({e['by']})")
        elif kind == "action_started":
            self.actions[e["action_id"]] = Marker(e["action_id"], e["action"], e["target"])
            self._requester[e["action_id"]] = e.get("by", "")
            self._add(t, "action", f"{e['action_id']} {e['action']} {e['target']} by {e['by']}")
        elif kind in ("action_succeeded", "action_failed"):
            self.actions.pop(e["action_id"], None)
            word = "done" if kind == "action_succeeded" else "failed"
            self._add(t, word, f"{e['action_id']} {e['action']} {e['target']} {'succeeded' if word == 'done' else 'failed'}")
        elif kind == "action_undone":
            self._add(t, "undo", f"{e['action_id']} {e['action']} {e['target']} undone by {e['by']}")
        elif kind == "incident_opened":
            self.incidents[e["incident"]] = e["root"]
            self._add(t, "incident", f"{e['incident']} opened: root {e['root']}, {len(e['covers'])} services")
        elif kind in ("incident_closed", "incident_superseded"):
            self.incidents.pop(e["incident"], None)
            how = e.get("status") or f"folded into {e.get('by')}"
            self._add(t, "closed", f"{e['incident']} closed: {how}")
        elif kind == "escalation":
            self._add(t, "escalation", f"{e['incident']} escalated to a human: {e['reason']}")
        elif kind == "tnr_violation":
            self._add(t, "undo", f"guard: {e['action']} {e['target']} made it worse ({e['before']:.2f} -> {e['after']:.2f})")

    def _on_message(self, t: float, e: dict[str, Any]) -> None:
        body, kind = e["body"], e["type"]
        if kind == "alert":
            self.alerts_sent += 1
            component = body["component"]
            if body.get("cleared"):
                self.alerting.pop(component, None)
            elif component not in self.alerting:
                self.alerting[component] = body["kind"]
                self._add(t, "alert", f"{e['from']}: {component} {', '.join(body['symptoms'][:3])}")
        elif kind == "diagnosis" and body["candidates"]:
            top = body["candidates"][0]
            self._add(t, "diagnosis", f"{body['incident']}: {top['fault']} on {top['component']} "
                                      f"({top['confidence']:.0%})")
        elif kind == "task" and e["perf"] == "cfp":
            self._tasks[body["task"]] = f"{body['action']} {body['target']}"
        elif kind == "award" and e["perf"] == "accept-proposal":
            self._add(t, "award", f"{e['to']} wins {body['task']} ({self._tasks.get(body['task'], '?')})")

    # ------------------------------------------------------------ frames
    def _on_frame(self, sim: Simulation, frame: Frame) -> None:
        twin = sim.twin
        self._health = float(sim.health[-1])
        for fid, (start, before) in list(self._recovering.items()):  # recovered: health back after the fix
            if self._health >= before - RECOVERED:
                self.repairs[fid] = frame.t - start
                del self._recovering[fid]
        state = np.zeros(twin.topo.n_services, dtype=np.int8)
        bad = ~frame.up | (frame.error > ERROR_BUDGET) | (frame.p99 > twin.slo)
        state[bad] = STATES.index("degraded")
        for i in self.services_under(self.faults):
            state[i] = STATES.index("faulty")
        for i in self.services_under(self.actions):
            state[i] = STATES.index("remediation")
        self.state = state
