"""The guard: Transactional No-Regression (TNR) and human approval.

Before a specialist acts it asks the guard. The guard measures an SLI of the action's blast
radius from telemetry, never from the twin's ground truth: the share of the objectives of the
scope's services met now (each is up, has errors near its baseline, p99 within SLO), where the
scope is what the action can hurt or is meant to help: the target's own services (a service; the
services on a host or a disk), their callers and their dependencies, nearest first, at most
:data:`MAX_SCOPE`. The monitors hold the telemetry,
so the guard asks each of them (``sli_query``, query-ref), sums their answers (``sli``), notes
the SLI, and only then answers: approve, or, for actions on the scenario's approval list, the
human's decision (the YAML default when the run is unattended).

After a successful action it waits `settle` and measures the same scope again. The action is
blamed only against a counterfactual: an action reaches its callers only through its own services
(the target, or the services on the host or disk), so a regression counts when the whole scope's
SLI *and* that of the action's own services fell by more than `tolerance`, while what those
services call did not. Callers that got worse while the action's own services held or recovered,
or own services that fell with their dependencies, were hurt by something else (a fault starting
during `settle`), and undoing a fix then would reopen the fault it fixed. The SLI reads server
errors only: the 429s a rate limit answers are its purpose, counted apart (``Frame.throttled``).
The baseline is the lower of the SLI at approval and the SLI the tick before the action took
effect (monitors keep a few ticks): what got worse while it ran its course, before it could act,
is not its doing (a second fault ramping up on the same service). If the action's incident
resolves before it settles, it is not judged at all. On a regression the guard asks the control
plane to undo the action and tells the coordinator the step was undone, so the incident goes back
for another fix; an action whose undo would restore what the team diagnosed as the fault (a
rollback, a config revert, a new certificate: KEPT_ON_REGRESSION) is kept, and the incident goes
back all the same.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

from opstwin.agents.approvals import META, Grants
from opstwin.agents.base import Agent, Context
from opstwin.agents.messages import ActionRequest, ActionResult, Approval, IncidentUpdate, Message, Sli, SliQuery
from opstwin.agents.spec import GuardSpec
from opstwin.twin.topology import Topology

MAX_SCOPE = 50  # services in a blast radius: enough for the callers that matter, small to ask about
# actions whose undo would restore what the team diagnosed as the fault (the release, the config, the
# certificate): on a regression they are kept and the incident moves on, as an SRE would not redeploy
# a release they just rolled back
KEPT_ON_REGRESSION = frozenset({"rollback_deployment", "revert_config", "rotate_certificate"})


def own_services(topo: Topology, target: str, cap: int = MAX_SCOPE) -> list[str]:
    """The services an action on `target` acts on directly: the service itself, or those on the host or disk."""
    if topo.is_service(target):
        own = [target]
    elif target in topo.hosts:
        own = topo.services_on_host(target)
    elif target in topo.disks:
        own = topo.services_on_disk(target)
    else:
        own = []
    return sorted(set(own))[:cap]


def blast_radius(topo: Topology, target: str, cap: int = MAX_SCOPE) -> list[str]:
    """The services an action on `target` can hurt or is meant to help, sorted: its own services,
    then their callers and their dependencies (a rate limit or a failover moves load onto them)
    breadth-first, nearest first and by name, at most `cap`."""
    scope = own_services(topo, target, cap)
    seen, frontier = set(scope), scope
    while frontier and len(scope) < cap:
        near = sorted({n for s in frontier for n in (*topo.dependents(s), *topo.dependencies(s))} - seen)
        frontier = near[: cap - len(scope)]
        scope += frontier
        seen |= set(near)
    return sorted(scope)


@dataclass
class Watch:
    task: str
    action: str
    target: str
    scope: list[str]
    own: list[str] = field(default_factory=list)
    deps: list[str] = field(default_factory=list)
    before: float | None = None
    before_own: float | None = None
    before_deps: float | None = None
    action_id: str = ""
    due: int | None = None


@dataclass
class Measure:
    """An SLI measurement in flight: the monitors' answers summed as they arrive."""

    task: str
    waiting: int
    reply: Message | None = None  # the approval request to answer once measured (None: a settle check)
    at_tick: int | None = None  # a recent tick to measure instead of the latest (the one before an action took effect)
    approval: Approval | None = None
    good: int = 0
    total: int = 0
    own_good: int = 0
    own_total: int = 0
    dep_good: int = 0
    dep_total: int = 0
    answered: set[str] = field(default_factory=set)

    @property
    def sli(self) -> float:
        return round(self.good / self.total, 6) if self.total else 1.0

    @property
    def own_sli(self) -> float:
        return round(self.own_good / self.own_total, 6) if self.own_total else 1.0

    @property
    def deps_sli(self) -> float:
        return round(self.dep_good / self.dep_total, 6) if self.dep_total else 1.0


class Guard(Agent):
    role = "guard"

    def __init__(self, name: str, seed: int, spec: GuardSpec, tick_seconds: float, topo: Topology,
                 monitors: list[str], coordinator: str = "coordinator", control: str = "control",
                 grants: Grants | None = None) -> None:
        super().__init__(name, seed)
        self.grants = grants if grants is not None else Grants()  # shared with control: see agents.approvals
        self.spec, self.topo, self.monitors = spec, topo, sorted(monitors)
        self.tick_seconds = tick_seconds
        self.settle_ticks = max(1, math.ceil(spec.settle / tick_seconds))
        self.coordinator, self.control = coordinator, control
        self.watches: dict[str, Watch] = {}
        self.measures: dict[str, Measure] = {}  # conversation -> measurement in flight
        # set by a transport when a human operator is online: Approval -> "approve" / "deny" / None (no answer)
        self.ask_human: Callable[[Approval], str | None] | None = None
        self.undos = 0

    def step(self, ctx: Context, inbox: list[Message]) -> None:
        for m in inbox:
            if m.kind == "approval" and m.performative == "request":
                self._approve(ctx, m)
            elif m.kind == "sli" and m.performative == "inform":
                self._answer(ctx, m)
            elif m.kind == "action_result":
                self._result(ctx, m)
            elif m.kind == "incident" and m.sender == self.coordinator:
                self._resolved(ctx, m.parsed())
        for task in sorted(self.watches):
            w = self.watches[task]
            if w.due is not None and ctx.tick >= w.due:
                w.due = None
                self._measure(ctx, w, Measure(w.task, len(self.monitors)))

    def _result(self, ctx: Context, m: Message) -> None:
        r: ActionResult = m.parsed()
        w = self.watches.get(r.task)
        if w is None:
            return
        if m.sender == self.control:  # our undo's answer: either way the step is over, the incident moves on
            reason = "SLI of the blast radius regressed" + ("" if r.status == "undone" else "; nothing to undo")
            ctx.send("failure", "action_result", self.coordinator,
                     ActionResult(task=r.task, action_id=r.action_id, action=w.action, target=w.target,
                                  status="undone", reason=reason))
            del self.watches[r.task]
        elif r.status == "succeeded":
            w.action_id, w.due = r.action_id, ctx.tick + self.settle_ticks
            ctx.wake_at(w.due)
            if r.finished_at is not None:  # how things stood the tick before it took effect
                before = math.ceil(r.finished_at / self.tick_seconds - 1e-9) - 1  # its effect shows from that tick on
                self._measure(ctx, w, Measure(w.task, len(self.monitors), at_tick=before))

    def _resolved(self, ctx: Context, upd: IncidentUpdate) -> None:
        """The incident of a watched action resolved before it settled: the action fixed what it was
        for; judging it now could only undo the fix and reopen the fault."""
        w = self.watches.get(upd.task or "")
        if upd.status == "resolved" and w is not None and w.due is not None:
            ctx.log("tnr_resolved", task=w.task, action=w.action, target=w.target, incident=upd.incident)
            del self.watches[w.task]

    def _approve(self, ctx: Context, m: Message) -> None:
        a: Approval = m.parsed()
        decision = "approve"
        if a.action in self.spec.approval.actions:
            decision, by = self.spec.approval.default, "default"
            answer = self.ask_human(a) if self.ask_human else None  # attended runs only (transport-provided)
            if answer:
                decision, by = answer, "human"
            ctx.log("approval", task=a.task, action=a.action, target=a.target, decision=decision, by=by)
        a = a.model_copy(update={"decision": decision})
        if decision != "approve":
            ctx.send("inform", "approval", m.sender, a, m.conversation)
            return
        own = own_services(self.topo, a.target)
        deps = sorted({d for s in own for d in self.topo.dependencies(s)} - set(own))
        w = Watch(a.task, a.action, a.target, blast_radius(self.topo, a.target), own, deps)
        self.watches[a.task] = w
        self._measure(ctx, w, Measure(a.task, len(self.monitors), reply=m, approval=a))

    def _measure(self, ctx: Context, w: Watch, measure: Measure) -> None:
        """Ask every monitor about `w`'s scope; with no monitor to ask, the SLI is taken as 1."""
        if not self.monitors:
            self._measured(ctx, measure)
            return
        conversation = ctx.new_conversation()
        self.measures[conversation] = measure
        for monitor in self.monitors:
            query = SliQuery(task=measure.task, services=w.scope, own=w.own, deps=w.deps, at_tick=measure.at_tick)
            ctx.send("query-ref", "sli_query", monitor, query, conversation)

    def _answer(self, ctx: Context, m: Message) -> None:
        measure = self.measures.get(m.conversation)
        if measure is None or m.sender in measure.answered:
            return
        s: Sli = m.parsed()
        measure.answered.add(m.sender)
        measure.good += s.good
        measure.total += s.total
        measure.own_good += s.own_good
        measure.own_total += s.own_total
        measure.dep_good += s.dep_good
        measure.dep_total += s.dep_total
        if len(measure.answered) >= measure.waiting:
            del self.measures[m.conversation]
            self._measured(ctx, measure)

    def _measured(self, ctx: Context, measure: Measure) -> None:
        w = self.watches.get(measure.task)
        if measure.reply is not None:  # before the action: note it, then answer the approval
            if w is not None:
                w.before, w.before_own, w.before_deps = measure.sli, measure.own_sli, measure.deps_sli
            a = measure.approval
            reply = ctx.send("inform", "approval", measure.reply.sender, a.model_copy(update={"sli": measure.sli}),
                             measure.reply.conversation)
            reply.meta[META] = self.grants.issue(a.task, a.action, a.target)
        elif w is not None and measure.at_tick is not None:
            # what got worse before the action took effect is not its doing: judge it from the lower baseline
            w.before = min(1.0 if w.before is None else w.before, measure.sli)
            w.before_own = min(1.0 if w.before_own is None else w.before_own, measure.own_sli)
        elif w is not None:
            self._check(ctx, w, measure)

    def agent_lost(self, ctx: Context, name: str) -> None:
        """`name` stopped answering (a transport says so). If it is a monitor, ask it nothing more and
        finish the measurements that waited only for it, from the answers already in."""
        if name not in self.monitors:
            return
        self.monitors.remove(name)
        for conversation in sorted(self.measures):
            measure = self.measures[conversation]
            if name in measure.answered:
                continue
            measure.waiting -= 1
            if len(measure.answered) >= measure.waiting:
                del self.measures[conversation]
                self._measured(ctx, measure)

    def _check(self, ctx: Context, w: Watch, m: Measure) -> None:
        after, after_own = m.sli, m.own_sli
        before = 1.0 if w.before is None else w.before
        before_own = 1.0 if w.before_own is None else w.before_own
        before_deps = 1.0 if w.before_deps is None else w.before_deps
        tol = self.spec.tolerance
        regressed = after < before - tol and after_own < before_own - tol and m.deps_sli >= before_deps - tol
        if regressed and w.action in KEPT_ON_REGRESSION:
            ctx.log("tnr_kept", task=w.task, action=w.action, target=w.target, action_id=w.action_id,
                    before=before, after=after, own_before=before_own, own_after=after_own, scope=len(w.scope))
            ctx.send("failure", "action_result", self.coordinator,
                     ActionResult(task=w.task, action_id=w.action_id, action=w.action, target=w.target,
                                  status="regressed", reason="SLI of the blast radius regressed; kept: its undo "
                                                             "would restore what was diagnosed faulty"))
            del self.watches[w.task]
        elif regressed:
            self.undos += 1
            ctx.log("tnr_violation", task=w.task, action=w.action, target=w.target, action_id=w.action_id,
                    before=before, after=after, own_before=before_own, own_after=after_own, scope=len(w.scope))
            req = ctx.send("request", "action", self.control,
                           ActionRequest(task=w.task, action=w.action, target=w.target, undo_of=w.action_id))
            req.meta[META] = self.grants.issue(w.task, w.action, w.target, w.action_id)
        else:
            ctx.log("tnr_ok", task=w.task, action=w.action, target=w.target, before=before, after=after,
                    own_before=before_own, own_after=after_own, scope=len(w.scope))
            del self.watches[w.task]

    def state(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role, "watching": len(self.watches), "undos": self.undos,
                "measuring": len(self.measures)}
