"""The message protocol: FIPA-ACL style messages with a JSON body whose schema depends on its kind.

Every message has a performative, a kind (which body schema), a conversation id, one sender
and one receiver (a multicast is several messages), and the superstep stamp
``(tick, round, sender, seq)``: ``seq`` counts the sender's messages over the whole run, so
``(sender, seq)`` is unique and sorting an inbox by it never depends on arrival order.
Conversation ids are derived from (sender, tick, seq): never a uuid, never a clock.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

WORK = "work"  # Message.meta key: the category of work an action request is for (the twin scores the worker by it)

PERFORMATIVES = (
    "inform", "request", "agree", "cfp", "propose", "refuse", "accept-proposal", "reject-proposal",
    "inform-done", "failure", "cancel", "query-ref",
)


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Alert(Body):
    """A monitor's finding: a component behaves unlike its baseline."""

    component: str
    kind: Literal["service", "disk", "host"]
    symptoms: list[str]  # e.g. errors, latency, memory, restarts, down, log:disk_full, disk_usage
    severity: float = Field(ge=0)
    values: dict[str, float] = Field(default_factory=dict)
    host: str | None = None
    deployed_ago: float | None = None  # seconds since the component's last deployment, if recent
    cleared: bool = False  # the component is back to normal
    logs: dict[str, int] = Field(default_factory=dict)  # log templates read most from it lately -> lines read


class Candidate(Body):
    component: str
    kind: Literal["service", "disk", "host"]
    fault: str  # the hypothesis, e.g. memory_leak
    confidence: float = Field(ge=0, le=1)
    actions: list[tuple[str, str, dict[str, Any]]] = Field(default_factory=list)  # (action, target, params)


class Diagnosis(Body):
    incident: str
    candidates: list[Candidate]
    evidence: list[str] = Field(default_factory=list)
    reasoner: str = "rules"
    # the latest alert severity of each candidate component that alerts: what the team observes of its
    # health (never the twin's true H); the coordinator passes it on in its calls for proposals
    severity: dict[str, float] = Field(default_factory=dict)


class IncidentUpdate(Body):
    incident: str
    status: Literal["resolved", "rediagnose", "escalated", "superseded"]
    reason: str = ""
    exclude: list[tuple[str, str]] = Field(default_factory=list)  # (action, target) known not to help
    task: str | None = None  # to the guard: the task whose action resolved the incident


class Task(Body):
    """A call for proposals: the remediation step, and what the coordinator knows of its incident,
    so that a bidder can weigh the work (a learned policy reads it; the others ignore it)."""

    task: str
    incident: str
    category: str
    action: str
    target: str
    params: dict[str, Any] = Field(default_factory=dict)
    attempt: int = 1
    confidence: float = Field(0.0, ge=0, le=1)  # the diagnosis' confidence in the candidate this fix is for
    severity: float = Field(0.0, ge=0)  # that candidate's latest alert severity (0: it does not alert)
    age: float = Field(0.0, ge=0)  # seconds since the coordinator got the incident's first diagnosis
    bidders: int = Field(0, ge=0)  # how many specialists this call for proposals went to


class Bid(Body):
    task: str
    cost: float = Field(ge=0)  # lower wins: expected seconds until the action is done
    queue: int = Field(ge=0)


class Refusal(Body):
    task: str
    reason: str


class Award(Body):
    task: str


class ActionRequest(Body):
    task: str
    action: str
    target: str
    params: dict[str, Any] = Field(default_factory=dict)
    undo_of: str | None = None  # an action id to undo instead


class ActionResult(Body):
    task: str
    action_id: str
    action: str
    target: str
    status: Literal["running", "succeeded", "failed", "undone", "refused", "regressed"]  # regressed: kept, see guard
    reason: str = ""
    finished_at: float | None = None  # sim time the action took effect (a finished action's result)


class Approval(Body):
    task: str
    action: str
    target: str
    decision: Literal["pending", "approve", "deny", "escalate"] = "pending"
    sli: float | None = None  # the guard's SLI of the action's blast radius when it approved


class SliQuery(Body):
    """The guard asks a monitor (query-ref) how the services of an action's blast radius are doing."""

    task: str
    services: list[str]
    own: list[str] = Field(default_factory=list)  # the action's own services among them, also counted apart
    deps: list[str] = Field(default_factory=list)  # what the own services call, also counted apart
    at_tick: int | None = None  # judge this recent tick (monitors keep a few), not the latest


class Sli(Body):
    """A monitor's answer (inform): over the queried services in its shard, how many of their
    objectives (up, errors near baseline, p99 within SLO) are met now, of how many; the same over
    the action's own services and over their dependencies."""

    task: str
    good: int = Field(ge=0)
    total: int = Field(ge=0)
    own_good: int = Field(0, ge=0)
    own_total: int = Field(0, ge=0)
    dep_good: int = Field(0, ge=0)
    dep_total: int = Field(0, ge=0)


KINDS: dict[str, type[Body]] = {
    "alert": Alert, "diagnosis": Diagnosis, "incident": IncidentUpdate, "task": Task, "bid": Bid,
    "refusal": Refusal, "award": Award, "action": ActionRequest, "action_result": ActionResult, "approval": Approval,
    "sli_query": SliQuery, "sli": Sli,
}


@dataclass(frozen=True)
class Message:
    performative: str
    kind: str
    sender: str
    receiver: str
    conversation: str
    body: dict[str, Any]
    tick: int = 0
    round: int = 0
    seq: int = 0
    meta: dict[str, str] = field(default_factory=dict, compare=False)

    def parsed(self) -> Body:
        """The body as its schema model (validated)."""
        return KINDS[self.kind].model_validate(self.body)

    @property
    def order(self) -> tuple[str, int]:
        return (self.sender, self.seq)

    def to_json(self) -> str:
        d = asdict(self)
        d.pop("meta")
        return json.dumps(d, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Message:
        return cls(**json.loads(text))


def make(performative: str, kind: str, sender: str, receiver: str, conversation: str, body: Body | dict,
         tick: int, round_: int, seq: int) -> Message:
    """Build a message, checking the performative and the body against its kind's schema."""
    if performative not in PERFORMATIVES:
        raise ValueError(f"unknown performative {performative!r}")
    model = body if isinstance(body, Body) else KINDS[kind].model_validate(body)
    if not isinstance(model, KINDS[kind]):
        raise TypeError(f"a {kind} message needs a {KINDS[kind].__name__} body, got {type(model).__name__}")
    return Message(performative, kind, sender, receiver, conversation, model.model_dump(mode="json"), tick, round_, seq)
