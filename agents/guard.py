"""The guard: Transactional No-Regression (TNR) and human approval.

Before a specialist acts it asks the guard. The guard notes health H then, and answers:
approve, or, for actions on the scenario's approval list, the human's decision (the YAML
default when the run is unattended). After a successful action it waits `settle` and reads H
again; if H is lower by more than `tolerance`, it asks the control plane to undo the action
and tells the coordinator the step was undone, so the incident goes back for another fix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

from opstwin.agents.base import Agent, Context
from opstwin.agents.messages import ActionRequest, ActionResult, Approval, Message
from opstwin.agents.spec import GuardSpec


@dataclass
class Watch:
    task: str
    action: str
    target: str
    before: float
    action_id: str = ""
    due: int | None = None


class Guard(Agent):
    role = "guard"

    def __init__(self, name: str, seed: int, spec: GuardSpec, tick_seconds: float, coordinator: str = "coordinator",
                 control: str = "control") -> None:
        super().__init__(name, seed)
        self.spec = spec
        self.settle_ticks = max(1, math.ceil(spec.settle / tick_seconds))
        self.coordinator, self.control = coordinator, control
        self.watches: dict[str, Watch] = {}
        # set by a transport when a human operator is online: Approval -> "approve" / "deny" / None (no answer)
        self.ask_human: Callable[[Approval], str | None] | None = None
        self.undos = 0

    def step(self, ctx: Context, inbox: list[Message]) -> None:
        for m in inbox:
            if m.kind == "approval" and m.performative == "request":
                self._approve(ctx, m)
            elif m.kind == "action_result":
                r: ActionResult = m.parsed()
                w = self.watches.get(r.task)
                if w is None:
                    continue
                if m.sender == self.control:  # our undo went through
                    ctx.send("failure", "action_result", self.coordinator,
                             ActionResult(task=r.task, action_id=r.action_id, action=w.action, target=w.target,
                                          status="undone", reason="health regressed"))
                    del self.watches[r.task]
                elif r.status == "succeeded":
                    w.action_id, w.due = r.action_id, ctx.tick + self.settle_ticks
                    ctx.wake_at(w.due)
        for task in sorted(self.watches):
            w = self.watches[task]
            if w.due is not None and ctx.tick >= w.due:
                self._check(ctx, w)

    def _approve(self, ctx: Context, m: Message) -> None:
        a: Approval = m.parsed()
        decision = "approve"
        if a.action in self.spec.approval.actions:
            decision, by = self.spec.approval.default, "default"
            answer = self.ask_human(a) if self.ask_human else None  # attended runs only (transport-provided)
            if answer:
                decision, by = answer, "human"
            ctx.log("approval", task=a.task, action=a.action, target=a.target, decision=decision, by=by)
        if decision == "approve":
            self.watches[a.task] = Watch(a.task, a.action, a.target, ctx.health)
        ctx.send("inform", "approval", m.sender, a.model_copy(update={"decision": decision, "health": ctx.health}),
                 m.conversation)

    def _check(self, ctx: Context, w: Watch) -> None:
        w.due = None
        after = ctx.health
        if after < w.before - self.spec.tolerance:
            self.undos += 1
            ctx.log("tnr_violation", task=w.task, action=w.action, target=w.target, action_id=w.action_id,
                    before=w.before, after=after)
            ctx.send("request", "action", self.control,
                     ActionRequest(task=w.task, action=w.action, target=w.target, undo_of=w.action_id))
        else:
            ctx.log("tnr_ok", task=w.task, action=w.action, target=w.target, before=w.before, after=after)
            del self.watches[w.task]

    def state(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role, "watching": len(self.watches), "undos": self.undos}
