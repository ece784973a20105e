"""Specialists: bid for remediation tasks and carry out the ones they win.

A specialist answers a call for proposals with a bid from its policy (or a refusal), queues
the tasks it is awarded, and works them one at a time: it asks the guard for approval, asks
the control plane to run the action, and reports the result to the coordinator (and, on
success, to the guard, which checks that the SLI of its blast radius did not regress).

It does not know how good it is: what it knows of itself is its own record per category of
work (successes, failures, realised against nominal seconds), kept from its own results, and it
bids with that. Its request names the category of work (``Message.meta[WORK]``) so the twin can
apply the scenario's true skill profile. While off shift it refuses every call for proposals
(work already queued still runs).

A scenario can give it a past (``history: N``): its record then starts with N results of earlier
actions, drawn before the run from its true figures (:func:`past_record`), as a specialist who has
worked in the team for a while knows roughly how it does. Only a policy that reads the record
(a trained one) uses it; the draw has its own seeded generator, so no other draw moves.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from opstwin.agents.approvals import META
from opstwin.agents.base import Agent, Context
from opstwin.agents.messages import WORK, ActionRequest, ActionResult, Approval, Bid, Message, Refusal, Task
from opstwin.agents.policies import BidderState, BiddingPolicy, Outcomes, action_fail, action_seconds
from opstwin.agents.runbook import RUNBOOK
from opstwin.twin.rng import generator


def past_record(seed: int, name: str, skills: list[str], profiles: dict[str, tuple[float, float]] | None,
                n: int) -> dict[str, Outcomes]:
    """`n` results of past actions, as the specialist's own record would hold them: each in one of its
    skills (uniformly), a fix of that category from the runbook (uniformly), taking its nominal
    seconds / speed and succeeding with success x the action's own odds, as the twin runs an action
    (twin/control.py; a specialist without profiles is average: speed 1, success 1). Seeded by the
    scenario seed and the specialist's name only: the same past for every policy and transport."""
    rng = generator(seed, "history:" + name)
    record: dict[str, Outcomes] = {}
    if n <= 0:
        return record
    fixes = {c: sorted({a for h in RUNBOOK if h.category == c for a, _ in h.fixes}) for c in skills}
    for _ in range(n):
        category = skills[int(rng.integers(len(skills)))]
        actions = fixes[category] or ["restart_service"]
        action = actions[int(rng.integers(len(actions)))]
        speed, success = (profiles or {}).get(category, (1.0, 1.0))
        ok = bool(rng.random() < success * (1.0 - action_fail(action)))
        o = record.get(category, Outcomes())
        record[category] = replace(o, succeeded=o.succeeded + ok, failed=o.failed + (not ok),
                                   seconds=o.seconds + action_seconds(action) / speed,
                                   nominal=o.nominal + action_seconds(action))
    return record


class Specialist(Agent):
    role = "specialist"

    def __init__(self, name: str, seed: int, skills: list[str], policy: BiddingPolicy, max_queue: int = 3,
                 coordinator: str = "coordinator", guard: str = "guard", control: str = "control",
                 off_shift: list[tuple[float, float]] | None = None,
                 history: dict[str, Outcomes] | None = None) -> None:
        super().__init__(name, seed)
        self.skills = tuple(skills)
        self.policy = policy
        self.max_queue = max_queue
        self.off_shift = sorted(off_shift or [])
        self.outcomes: dict[str, Outcomes] = dict(history or {})  # its past (past_record), then its own results
        self.started_at: float | None = None
        self.coordinator, self.guard, self.control = coordinator, guard, control
        self.offers: dict[str, Task] = {}
        self.queue: list[Task] = []
        self.current: Task | None = None
        self.done = 0

    def me(self) -> BidderState:
        work = ([self.current] if self.current else []) + self.queue
        return BidderState(self.name, self.skills, len(work), self.max_queue,
                           float(sum(action_seconds(t.action) for t in work)),
                           tuple((t.action, t.category) for t in work), dict(self.outcomes))

    def on_shift(self, t: float) -> bool:
        return not any(start <= t < end for start, end in self.off_shift)

    def step(self, ctx: Context, inbox: list[Message]) -> None:
        for m in inbox:
            if m.performative == "cfp":
                self._on_cfp(ctx, m)
            elif m.performative == "accept-proposal":
                task = self.offers.pop(m.body["task"], None)
                if task:
                    self.queue.append(task)
            elif m.performative == "reject-proposal":
                self.offers.pop(m.body["task"], None)
            elif m.kind == "approval":
                self._on_approval(ctx, m.parsed(), m.meta.get(META))
            elif m.kind == "action_result":
                self._on_result(ctx, m.parsed())
        if self.current is None and self.queue:
            self._start(ctx, self.queue.pop(0))

    def _on_cfp(self, ctx: Context, m: Message) -> None:
        task: Task = m.parsed()
        if not self.on_shift(ctx.t):
            ctx.send("refuse", "refusal", m.sender, Refusal(task=task.task, reason="off shift"), m.conversation)
            return
        cost = self.policy.bid(task, self.me(), self.rng)
        if cost is None:
            ctx.send("refuse", "refusal", m.sender, Refusal(task=task.task, reason="busy or unable"), m.conversation)
            return
        self.offers[task.task] = task
        ctx.send("propose", "bid", m.sender, Bid(task=task.task, cost=round(float(cost), 3), queue=self.me().queue),
                 m.conversation)

    def _start(self, ctx: Context, task: Task) -> None:
        self.current = task
        ctx.send("request", "approval", self.guard, Approval(task=task.task, action=task.action, target=task.target))

    def _on_approval(self, ctx: Context, a: Approval, grant: str | None = None) -> None:
        task = self.current
        if task is None or task.task != a.task:
            return
        if a.decision == "approve":  # the guard's grant goes with the request: control checks it
            req = ctx.send("request", "action", self.control,
                           ActionRequest(task=task.task, action=task.action, target=task.target, params=task.params))
            if grant:
                req.meta[META] = grant
            req.meta[WORK] = task.category
            self.started_at = ctx.t
        else:
            self._finish(ctx, ActionResult(task=task.task, action_id="", action=task.action, target=task.target,
                                           status="refused", reason=f"approval: {a.decision}"))

    def _on_result(self, ctx: Context, r: ActionResult) -> None:
        if self.current is None or r.task != self.current.task or r.status == "running":
            return
        self._finish(ctx, r)

    def _finish(self, ctx: Context, r: ActionResult) -> None:
        perf = "inform-done" if r.status == "succeeded" else "failure"
        if self.current is not None and self.started_at is not None and r.status in ("succeeded", "failed"):
            self._record(self.current, r.status == "succeeded", (r.finished_at or ctx.t) - self.started_at)
        self.started_at = None
        ctx.send(perf, "action_result", self.coordinator, r)
        if r.status == "succeeded":
            ctx.send("inform-done", "action_result", self.guard, r)
        self.current = None
        self.done += 1
        if self.queue:
            self._start(ctx, self.queue.pop(0))

    def _record(self, task: Task, ok: bool, seconds: float) -> None:
        """Add one of its own results to its record for the task's category."""
        o = self.outcomes.get(task.category, Outcomes())
        self.outcomes[task.category] = replace(o, succeeded=o.succeeded + ok, failed=o.failed + (not ok),
                                               seconds=o.seconds + max(0.0, seconds),
                                               nominal=o.nominal + action_seconds(task.action))

    def state(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role, "policy": self.policy.name, "queue": self.me().queue,
                "done": self.done}
