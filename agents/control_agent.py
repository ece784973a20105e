"""The control plane's endpoint among the agents: action requests in, results out.

It lives with the twin (the twin's process), so agents anywhere reach the control plane only
by message. A request is answered at once with `agree` (running, with its action id) or a
refusal; the result follows as `inform-done` / `failure` in round 0 of the first tick after the
action finished in sim time. Requests to undo run at once. It holds only the control plane's
:class:`twin.control.ActionPort`: no twin, no listeners.

It runs only what the guard approved: every request must carry the guard's grant for exactly that
action (:mod:`agents.approvals`); one without is refused (a ``failure`` reply and a
``request_refused`` event). The only exception is a standing baseline team (``trusted``), which
has no guard: there ``control`` takes requests from that baseline agent, and from no one else.
"""

from __future__ import annotations

from typing import Any

from opstwin.agents.approvals import META, Grants
from opstwin.agents.base import Agent, Context
from opstwin.agents.messages import WORK, ActionRequest, ActionResult, Message
from opstwin.twin.control import ActionError, ActionPort, TicketView


class ControlAgent(Agent):
    role = "control"

    def __init__(self, name: str, seed: int, port: ActionPort, grants: Grants | None = None,
                 trusted: tuple[str, ...] = ()) -> None:
        super().__init__(name, seed)
        self.port = port
        self.grants = grants if grants is not None else Grants()
        self.trusted = frozenset(trusted)  # agents whose requests need no grant (a baseline team's one agent)
        self.refused = 0
        self._finished: list[tuple[TicketView, str, str]] = []  # (ticket, requester, task)

    def has_pending(self) -> bool:
        return bool(self._finished)

    def step(self, ctx: Context, inbox: list[Message]) -> None:
        for ticket, requester, task in self._finished:
            status = "succeeded" if ticket.status in ("succeeded", "undone") else "failed"
            ctx.send("inform-done" if status == "succeeded" else "failure", "action_result", requester,
                     ActionResult(task=task, action_id=ticket.id, action=ticket.action, target=ticket.target,
                                  status=status, reason=ticket.reason, finished_at=ticket.finished_at))
        self._finished = []
        for m in inbox:
            if m.kind == "action" and m.performative == "request":
                self._request(ctx, m, m.parsed())

    def _request(self, ctx: Context, m: Message, req: ActionRequest) -> None:
        reply = dict(task=req.task, action=req.action, target=req.target)
        if m.sender not in self.trusted and not self.grants.redeem(m.meta.get(META), req.task, req.action,
                                                                   req.target, req.undo_of):
            self.refused += 1
            reason = "no valid approval from the guard"
            ctx.log("request_refused", task=req.task, action=req.action, target=req.target, requester=m.sender,
                    reason=reason)
            ctx.send("failure", "action_result", m.sender,
                     ActionResult(**reply, action_id="", status="refused", reason=reason), m.conversation)
            return
        if req.undo_of:
            ok = self.port.undo(req.undo_of, requester=m.sender)
            ctx.send("inform-done" if ok else "failure", "action_result", m.sender,
                     ActionResult(**reply, action_id=req.undo_of, status="undone" if ok else "refused"), m.conversation)
            return
        try:
            params = self._resolve(req)
            ticket = self.port.request(req.action, req.target, params, requester=m.sender,
                                       on_done=lambda t, r=m.sender, k=req.task: self._finished.append((t, r, k)),
                                       category=m.meta.get(WORK))
        except ActionError as exc:
            ctx.send("failure", "action_result", m.sender,
                     ActionResult(**reply, action_id="", status="refused", reason=str(exc)), m.conversation)
            return
        ctx.send("agree", "action_result", m.sender, ActionResult(**reply, action_id=ticket.id, status="running"),
                 m.conversation)

    def _resolve(self, req: ActionRequest) -> dict[str, Any]:
        """Relative parameters (`replicas: x2`) become absolute against the current replica count."""
        params = dict(req.params)
        r = params.get("replicas")
        if isinstance(r, str) and r.startswith("x"):
            current = self.port.replicas(req.target)
            params["replicas"] = max(1, min(1000, int(round(current * float(r[1:])))))
        return params
