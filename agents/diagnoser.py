"""The diagnoser: turns alerts into incidents with localized, ranked root causes.

It keeps the set of alerting components. A new alert that no open incident explains starts a
short gather window (a cascade takes a few ticks to show); then the reasoner localizes what
is unexplained and each root group becomes an incident, sent to the coordinator as a
diagnosis. An incident is resolved when its core (the root and what sits on it) is quiet.
The coordinator can ask for a re-diagnosis, excluding fixes that did not help.

No alert is left behind: when an incident resolves while some components it covered still
alert, they are diagnosed again at once (a fault folded into another incident's cascade would
otherwise never be looked at again). An escalated incident, owned by a human, keeps explaining
its components through the alert episode it was escalated in. Once a component has cleared, its
next alert is diagnosed afresh: the same diagnosis on the same root is a recurrence (a leak that
kills and comes back) and stays the human's; any other is a new fault and a new incident.

Reasoning takes time: a reasoner that reports what it cost (an LLM's calls, :mod:`opstwin.agents.llm`)
has its events logged and holds the diagnoses back by that many sim seconds (the diagnoser thinks one
call at a time). The rules reasoner costs nothing and its diagnoses go out at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from opstwin.agents.base import Agent, Context
from opstwin.agents.messages import Alert, Diagnosis, IncidentUpdate, Message
from opstwin.agents.reasoners import Reasoner


ESCALATED_QUIET = 3600.0  # an escalated incident closes after this long without alerts
ORPHAN_WAIT = 120.0  # after an incident resolves, time for its callers to recover before what still alerts is diagnosed
OWN = {"rate_spike", "down", "restarts", "memory", "memory_growth", "latency_regression"}  # symptoms a cascade does not give a caller
# log signals a caller shows when something it depends on fails (its own lines are then about the call)
CASCADE = {"log:upstream", "log:timeout", "log:slow", "log:overload", "log:tls", "log:reset", "log:error",
           "log:probe", "log:rate_limited"}


@dataclass
class Incident:
    id: str
    covers: set[str]  # every alerting component it explains, callers included
    root: str
    opened: float
    core: set[str] = field(default_factory=set)  # the root and what sits on it: resolved when quiet
    quiet_since: float | None = None
    exclude: set[tuple[str, str]] = field(default_factory=set)
    status: str = "open"
    fault: str = ""  # the hypothesis it was opened with
    cleared: set[str] = field(default_factory=set)  # components whose alert cleared since the escalation


class Diagnoser(Agent):
    role = "diagnoser"

    def __init__(self, name: str, seed: int, reasoner: Reasoner, tick_seconds: float, gather: float,
                 coordinator: str = "coordinator") -> None:
        super().__init__(name, seed)
        self.reasoner = reasoner
        self.coordinator = coordinator
        self.tick_seconds = tick_seconds
        self.gather_ticks = max(0, math.ceil(gather / tick_seconds))
        self.anomalies: dict[str, Alert] = {}
        self.incidents: dict[str, Incident] = {}
        self._next = 0
        self._due: int | None = None
        self._orphans_due: int | None = None
        self._ready_at = 0.0  # sim time the reasoner is done with the calls made so far
        self._held: list[tuple[int, Diagnosis]] = []  # (due tick, diagnosis) waiting for the reasoning's time

    @property
    def blocking(self) -> bool:
        """Whether a step can wait on a server (an LLM reasoner): transports run it off their event loop."""
        return bool(getattr(self.reasoner, "blocking", False))

    def _open(self) -> list[Incident]:
        return [i for i in self.incidents.values() if i.status == "open"]

    def _live(self) -> list[Incident]:
        """Open or escalated: a human owns an escalated incident, but it still explains its alerts."""
        return [i for i in self.incidents.values() if i.status in ("open", "escalated")]

    def step(self, ctx: Context, inbox: list[Message]) -> None:
        begin = getattr(self.reasoner, "begin_step", None)
        if begin is not None:
            begin()
        self._release(ctx)
        new = False
        grown: set[str] = set()
        for m in inbox:
            if m.kind == "alert":
                alert = m.parsed()
                if alert.cleared:
                    self.anomalies.pop(alert.component, None)
                    for inc in self.incidents.values():
                        if inc.status == "escalated" and alert.component in inc.covers:
                            inc.cleared.add(alert.component)
                else:
                    old = self.anomalies.get(alert.component)
                    grew = old is None or not set(alert.symptoms) <= set(old.symptoms)
                    if grew and not self._covered(alert.component):
                        new = True
                    elif grew and old is not None:
                        grown.add(alert.component)
                    self.anomalies[alert.component] = alert
            elif m.kind == "incident":
                upd = m.parsed()
                inc = self.incidents.get(upd.incident)
                if inc and upd.status == "rediagnose" and inc.status == "open":
                    inc.exclude |= {tuple(x) for x in upd.exclude}
                    self._rediagnose(ctx, inc)
                elif inc and upd.status == "escalated":
                    inc.status = "escalated"
        self._resolve(ctx)
        for inc in self._open():  # more evidence on a root: a better diagnosis may follow
            if inc.root in grown:
                self._rediagnose(ctx, inc)
        if new and self._due is None:
            self._due = ctx.tick + self.gather_ticks
            if self.gather_ticks:
                ctx.wake_at(self._due)
        orphans = self._orphans_due is not None and ctx.tick >= self._orphans_due
        if orphans:
            self._orphans_due = None
        if (self._due is not None and ctx.tick >= self._due) or orphans:
            self._due = None
            self._diagnose(ctx)

    def _absorbs(self, inc: Incident, component: str) -> bool:
        """An open incident explains what it covers; an escalated one only the alert episode it was handed over in."""
        return inc.status != "escalated" or component not in inc.cleared

    def _covered(self, component: str) -> bool:
        """Whether an open incident explains `component`: it covers it, or `component` is a
        caller of a component it covers showing only the symptoms a cascade gives (a caller
        with a problem of its own, a surge or its own error, is not explained by it). A caller
        found this way is added to the incident's covers, so the next check is a lookup."""
        topo = self.reasoner.topo
        below: set[str] = set()  # what `component` calls, directly or not, and itself (asked when needed)
        alert = self.anomalies.get(component)
        own = alert is not None and any(s in OWN or (s.startswith("log:") and s not in CASCADE) for s in alert.symptoms)
        for inc in self._live():
            if not self._absorbs(inc, component):
                continue
            if component in inc.covers and not (own and component not in inc.core):
                return True
            if not own and topo.is_service(component):
                below = below or topo.descendants(component) | {component}  # once per check, not per cover
                if any(c in below for c in inc.covers):
                    inc.covers.add(component)
                    return True
        return False

    def _resolve(self, ctx: Context) -> None:
        """An incident is resolved when its core is quiet; callers that still alert are orphans: they
        are diagnosed again after a gather window, as their own incident if nothing else explains them."""
        for inc in self._live():
            if any(c in self.anomalies for c in inc.core):
                inc.quiet_since = None
                continue
            if inc.quiet_since is None:
                inc.quiet_since = ctx.t
                if inc.status == "escalated":
                    ctx.wake_at(ctx.tick + math.ceil(ESCALATED_QUIET / self.tick_seconds))
            if inc.status == "escalated" and ctx.t - inc.quiet_since < ESCALATED_QUIET - 1e-6:
                continue  # a human owns it: a fault that comes back (a leak) is still theirs
            inc.status = "resolved"
            ctx.log("incident_resolved", incident=inc.id, root=inc.root)
            ctx.send("inform", "incident", self.coordinator, IncidentUpdate(incident=inc.id, status="resolved"))
            if any(c in self.anomalies for c in inc.covers) and self._orphans_due is None:
                self._orphans_due = ctx.tick + math.ceil(ORPHAN_WAIT / self.tick_seconds)
                ctx.wake_at(self._orphans_due)

    def _diagnose(self, ctx: Context) -> None:
        """Localize over every alerting component; open incidents only for new roots."""
        if not any(not self._covered(c) for c in self.anomalies):
            return
        by_root = {i.root: i for i in self._live() if self._absorbs(i, i.root)}
        groups = self.reasoner.localize(dict(self.anomalies))
        self._charge(ctx)
        for group in groups:
            root = group.candidates[0].component
            if self._recurs(ctx, group):
                continue
            if root in by_root:  # late alerts of a known incident
                by_root[root].covers |= group.covers
                continue
            if any(root in i.core and self._absorbs(i, root) for i in self._live()) or self._covered(root):
                continue
            for old in self._live():  # a human's incident on this root, now with new symptoms: ours again
                if old.status == "escalated" and old.root == root:
                    old.status = "superseded"
                    ctx.log("incident_superseded", incident=old.id, by=f"inc{self._next + 1}")
            self._next += 1
            inc = Incident(f"inc{self._next}", set(group.covers), root, ctx.t, self._core(root, group.covers),
                           fault=group.candidates[0].fault)
            self.incidents[inc.id] = inc
            by_root[root] = inc
            ctx.log("incident_opened", incident=inc.id, root=inc.root, covers=sorted(inc.covers))
            self._supersede(ctx, inc)
            self._deliver(ctx, Diagnosis(incident=inc.id, candidates=group.candidates, evidence=group.evidence,
                                         reasoner=group.reasoner or self.reasoner.name))

    def _recurs(self, ctx: Context, group: Any) -> bool:
        """Whether `group` is an escalated incident's fault again (same root, same diagnosis): then the
        human's incident takes its alerts back."""
        top = group.candidates[0]
        for inc in self._live():
            if inc.status == "escalated" and inc.root == top.component and top.component in inc.cleared:
                if top.fault == inc.fault:
                    inc.covers |= group.covers
                    inc.cleared -= group.covers
                    ctx.log("incident_recurred", incident=inc.id, root=inc.root)
                    return True
        return False

    def _core(self, root: str, covers: set[str]) -> set[str]:
        topo = self.reasoner.topo
        core = {root}
        if root in topo.hosts:
            core |= set(topo.services_on_host(root)) & covers
        elif root in topo.disks:
            core |= set(topo.services_on_disk(root)) & covers
        return core

    def _supersede(self, ctx: Context, new: Incident) -> None:
        """Open incidents blamed on callers of the new root were its cascade, seen first:
        fold them into the new incident and tell the coordinator to stop working on them."""
        topo = self.reasoner.topo
        if not topo.is_service(new.root):
            return
        callers = topo.ancestors(new.root) | {new.root}  # what calls the new root, directly or not
        for inc in self._open():
            if inc is not new and inc.root in callers:
                inc.status = "superseded"
                new.covers |= inc.covers
                ctx.log("incident_superseded", incident=inc.id, by=new.id)
                ctx.send("inform", "incident", self.coordinator,
                         IncidentUpdate(incident=inc.id, status="superseded", reason=f"caused by {new.root} ({new.id})"))

    def _rediagnose(self, ctx: Context, inc: Incident) -> None:
        alerts = {c: a for c, a in self.anomalies.items() if c in inc.covers}
        groups = self.reasoner.localize(alerts, exclude=inc.exclude) if alerts else []
        self._charge(ctx)
        groups.sort(key=lambda g: g.candidates[0].component != inc.root)  # the incident's root first
        candidates = [c for g in groups for c in g.candidates if c.actions]
        by = (groups[0].reasoner if groups else None) or self.reasoner.name
        self._deliver(ctx, Diagnosis(incident=inc.id, candidates=candidates[:3],
                                     evidence=sorted({e for g in groups for e in g.evidence}), reasoner=by))

    # ----------------------------------------------------- reasoning time
    def _charge(self, ctx: Context) -> None:
        """Log what the reasoner did since its last report; its sim seconds delay what it concluded."""
        take = getattr(self.reasoner, "take", None)
        if take is None:
            return
        events, seconds = take()
        for kind, fields in events:
            ctx.log(kind, **fields)
        if seconds > 0:
            self._ready_at = max(self._ready_at, ctx.t) + seconds

    def _deliver(self, ctx: Context, diagnosis: Diagnosis) -> None:
        """Send now, or hold it until the reasoning it came from is done (in sim time). It carries the
        candidates' alert severities as they are now (what the team sees of their health)."""
        severity = {c.component: self.anomalies[c.component].severity
                    for c in diagnosis.candidates if c.component in self.anomalies}
        diagnosis = diagnosis.model_copy(update={"severity": dict(sorted(severity.items()))})
        if self._ready_at <= ctx.t + 1e-9:
            ctx.send("inform", "diagnosis", self.coordinator, diagnosis)
            return
        due = ctx.tick + max(1, math.ceil((self._ready_at - ctx.t) / self.tick_seconds - 1e-9))
        self._held.append((due, diagnosis))
        ctx.wake_at(due)

    def _release(self, ctx: Context) -> None:
        """Send the held diagnoses now due, in the order they were made, for incidents still open."""
        due = [d for tick, d in self._held if tick <= ctx.tick]
        self._held = [(tick, d) for tick, d in self._held if tick > ctx.tick]
        for d in due:
            inc = self.incidents.get(d.incident)
            if inc is not None and inc.status == "open":
                ctx.send("inform", "diagnosis", self.coordinator, d)

    def state(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role, "anomalies": len(self.anomalies),
                "open_incidents": len(self._open())}
