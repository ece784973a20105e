"""The coordinator: runs a FIPA Contract Net for every remediation step of every incident.

For an incident's diagnosis it takes the best untried fix (candidate by candidate, fix by
fix), sends a call for proposals to every live specialist whose skills cover the fix's
category, collects their propose/refuse in the next round (the superstep guarantees every
answer is in by then), awards the cheapest bid (ties by name) and rejects the rest. When the
action succeeded it waits `verify` for the incident to clear. A failed action is most often a
transient failure: it is auctioned again after a back-off (RETRY_BACKOFF, doubling, at most
MAX_RETRIES times) before the plan moves on. When it was denied, was undone by the guard, or
the incident did not clear, it moves on to the next fix. With the fixes exhausted it asks for one re-diagnosis; after `max_attempts` attempts,
or with nothing left to try, it escalates to a human.

A call for proposals carries what the coordinator knows of the work beside the step itself: the
diagnosis' confidence in the candidate the fix is for, that candidate's alert severity (the health
the team observes, never the twin's), the incident's age (since its first diagnosis reached the
coordinator) and how many specialists were asked. A learned bidder weighs them; the award does not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from opstwin.agents.base import Agent, Context
from opstwin.agents.messages import ActionResult, Award, Bid, Candidate, IncidentUpdate, Message, Task
from opstwin.agents.runbook import BY_FAULT

Step = tuple[str, str, str, dict[str, Any]]  # (action, target, category, params)
StepInfo = tuple[float, float]  # (confidence, severity) of the candidate a step is a fix for
MAX_RETRIES = 2  # a failed action is tried again this many times before the plan moves on
RETRY_BACKOFF = 30.0  # seconds before the first retry; doubles for the next


@dataclass
class Plan:
    incident: str
    steps: list[Step]
    opened: float = 0.0  # sim time its first diagnosis reached the coordinator
    info: dict[tuple[str, str], StepInfo] = field(default_factory=dict)  # (action, target) -> StepInfo
    tried: set[tuple[str, str]] = field(default_factory=set)
    attempts: int = 0
    status: str = "open"  # open, resolved, escalated
    rediagnosed: bool = False
    # the step in progress
    current: Step | None = None
    task: str | None = None
    conversation: str = ""
    bids: dict[str, Bid] = field(default_factory=dict)
    waiting: set[str] = field(default_factory=set)
    awarded: bool = False
    winner: str | None = None  # the specialist the current step was awarded to
    retries: int = 0  # retries of the current step after it failed
    verify_until: int | None = None
    retry_at: int | None = None


class Coordinator(Agent):
    role = "coordinator"

    def __init__(self, name: str, seed: int, specialists: dict[str, list[str]], tick_seconds: float, verify: float,
                 max_attempts: int, diagnoser: str = "diagnoser", human: str | None = None,
                 guard: str = "guard") -> None:
        super().__init__(name, seed)
        self.specialists = specialists  # name -> skills
        self.verify_ticks = max(1, math.ceil(verify / tick_seconds))
        self.tick_seconds = tick_seconds
        self.max_attempts = max_attempts
        self.diagnoser = diagnoser
        self.guard = guard
        self.human = human
        self.plans: dict[str, Plan] = {}
        self.task_plan: dict[str, str] = {}
        self.dead: set[str] = set()
        self._tasks = 0

    # -------------------------------------------------------------- step
    def step(self, ctx: Context, inbox: list[Message]) -> None:
        for m in inbox:
            handler = getattr(self, "_on_" + m.kind, None)
            if handler:
                handler(ctx, m)
        for plan in sorted(self.plans.values(), key=lambda p: p.incident):
            if plan.status != "open":
                continue
            if plan.task and not plan.awarded and not plan.waiting:
                self._award(ctx, plan)
            if plan.retry_at is not None and ctx.tick >= plan.retry_at:
                self._next_step(ctx, plan, retry=True)  # nobody could take it a minute ago: ask again
            elif plan.verify_until is not None and ctx.tick >= plan.verify_until:
                ctx.log("fix_not_effective", incident=plan.incident, task=plan.task)
                self._next_step(ctx, plan)

    def _on_diagnosis(self, ctx: Context, m: Message) -> None:
        d = m.parsed()
        steps = [self._step_of(c, a) for c in d.candidates for a in c.actions]
        info: dict[tuple[str, str], StepInfo] = {}
        for c in d.candidates:  # a fix named by several candidates: the best-ranked one's figures
            for name, target, _ in c.actions:
                info.setdefault((name, target), (c.confidence, d.severity.get(c.component, 0.0)))
        plan = self.plans.get(d.incident)
        if plan is None:
            plan = self.plans[d.incident] = Plan(d.incident, steps, opened=ctx.t)
        elif plan.status == "open":
            plan.steps = steps
        plan.info.update(info)
        if plan.status == "open" and plan.task is None:
            self._next_step(ctx, plan)

    @staticmethod
    def _step_of(c: Candidate, action: tuple[str, str, dict[str, Any]]) -> Step:
        name, target, params = action
        category = BY_FAULT[c.fault].category if c.fault in BY_FAULT else "compute"
        return (name, target, category, params)

    def _on_incident(self, ctx: Context, m: Message) -> None:
        upd = m.parsed()
        plan = self.plans.get(upd.incident)
        if plan and upd.status in ("resolved", "superseded") and plan.status == "open":
            if upd.status == "resolved" and plan.task and plan.verify_until is not None:
                # the action did its job: the guard must not undo it and reopen the fault
                ctx.send("inform", "incident", self.guard, upd.model_copy(update={"task": plan.task}))
            plan.status = upd.status
            plan.verify_until = None
            ctx.log("incident_closed", incident=plan.incident, attempts=plan.attempts, status=upd.status)

    def _on_bid(self, ctx: Context, m: Message) -> None:
        plan = self._plan_of(m.body["task"])
        if plan is not None and plan.task == m.body["task"]:
            plan.waiting.discard(m.sender)
            plan.bids[m.sender] = m.parsed()

    def _on_refusal(self, ctx: Context, m: Message) -> None:
        plan = self._plan_of(m.body["task"])
        if plan is not None and plan.task == m.body["task"]:
            plan.waiting.discard(m.sender)

    def _on_action_result(self, ctx: Context, m: Message) -> None:
        r: ActionResult = m.parsed()
        plan = self._plan_of(r.task)
        if plan is None or plan.status != "open" or plan.task != r.task or r.status == "running":
            return
        if r.status == "succeeded":
            plan.verify_until = ctx.tick + self.verify_ticks
            ctx.wake_at(plan.verify_until)
        elif r.status == "failed" and plan.retries < MAX_RETRIES and plan.current is not None:
            plan.steps.insert(0, plan.current)  # a failure is most often transient: retry after a back-off
            plan.tried.discard((plan.current[0], plan.current[1]))
            plan.attempts -= 1
            plan.retries += 1
            plan.task, plan.current, plan.verify_until = None, None, None
            plan.retry_at = ctx.tick + max(1, math.ceil(RETRY_BACKOFF * 2 ** (plan.retries - 1) / self.tick_seconds))
            ctx.wake_at(plan.retry_at)
        else:  # failed again, refused, denied, or undone by the guard
            self._next_step(ctx, plan)

    def _plan_of(self, task: str) -> Plan | None:
        return self.plans.get(self.task_plan.get(task, ""))

    # ------------------------------------------------------- contract net
    def _next_step(self, ctx: Context, plan: Plan, retry: bool = False) -> None:
        plan.task, plan.current, plan.verify_until, plan.awarded, plan.retry_at = None, None, None, False, None
        plan.winner = None
        if not retry:
            plan.retries = 0
        while plan.steps and (plan.steps[0][0], plan.steps[0][1]) in plan.tried:
            plan.steps.pop(0)
        if plan.attempts >= self.max_attempts:
            return self._escalate(ctx, plan, f"{plan.attempts} attempts did not resolve it")
        if not plan.steps:
            if not plan.rediagnosed:
                plan.rediagnosed = True
                ctx.send("request", "incident", self.diagnoser,
                         IncidentUpdate(incident=plan.incident, status="rediagnose", exclude=sorted(plan.tried)))
                return None
            return self._escalate(ctx, plan, "no fix left to try")
        step = plan.steps.pop(0)
        action, target, category, params = step
        plan.tried.add((action, target))
        plan.attempts += 1
        self._tasks += 1
        live = sorted(n for n in self.specialists if n not in self.dead)
        able = [n for n in live if category in self.specialists[n]] or live
        confidence, severity = plan.info.get((action, target), (0.0, 0.0))
        task = Task(task=f"t{self._tasks}", incident=plan.incident, category=category, action=action, target=target,
                    params=params, attempt=plan.attempts, confidence=confidence, severity=severity,
                    age=round(max(0.0, ctx.t - plan.opened), 1), bidders=len(able))
        plan.current, plan.task, plan.bids, plan.winner = step, task.task, {}, None
        self.task_plan[task.task] = plan.incident
        if not able:
            return self._escalate(ctx, plan, "no specialist left")
        plan.waiting = set(able)
        plan.conversation = ctx.new_conversation()
        for name in able:
            ctx.send("cfp", "task", name, task, conversation=plan.conversation)
        return None

    def _award(self, ctx: Context, plan: Plan) -> None:
        if not plan.bids:
            ctx.log("no_bids", incident=plan.incident, task=plan.task)
            plan.attempts -= 1  # nobody could take it: not an attempt
            plan.steps.insert(0, plan.current)
            plan.tried.discard((plan.current[0], plan.current[1]))
            plan.awarded = True  # nothing to award; the step is asked for again in a minute
            plan.retry_at = ctx.tick + 6
            ctx.wake_at(plan.retry_at)
            return
        winner = min(plan.bids, key=lambda n: (plan.bids[n].cost, n))
        plan.awarded, plan.winner = True, winner
        for name in sorted(plan.bids):
            perf = "accept-proposal" if name == winner else "reject-proposal"
            ctx.send(perf, "award", name, Award(task=plan.task), conversation=plan.conversation)

    def _escalate(self, ctx: Context, plan: Plan, reason: str) -> None:
        plan.status = "escalated"
        ctx.log("escalation", incident=plan.incident, attempts=plan.attempts, reason=reason)
        update = IncidentUpdate(incident=plan.incident, status="escalated", reason=reason)
        ctx.send("inform", "incident", self.diagnoser, update)
        if self.human:
            ctx.send("inform", "incident", self.human, update)

    def specialist_lost(self, ctx: Context, name: str) -> None:
        """A specialist stopped answering (its process died): drop it and re-auction its work."""
        self.dead.add(name)
        for plan in sorted(self.plans.values(), key=lambda p: p.incident):
            if plan.status != "open" or plan.task is None:
                continue
            was_waited = name in plan.waiting
            plan.waiting.discard(name)
            plan.bids.pop(name, None)
            # it held the work and its action may never report back; or it was the last bidder awaited and
            # nobody bid (another specialist's work goes on: re-auctioning it would run the step twice)
            if (plan.awarded and plan.winner == name and plan.verify_until is None) or (
                    was_waited and not plan.awarded and not plan.waiting and not plan.bids):
                ctx.log("reauction", incident=plan.incident, task=plan.task, lost=name)
                plan.steps.insert(0, plan.current)
                plan.tried.discard((plan.current[0], plan.current[1]))
                plan.attempts -= 1
                self._next_step(ctx, plan, retry=True)

    def state(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role,
                "open": sorted(p.incident for p in self.plans.values() if p.status == "open")}
