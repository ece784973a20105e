"""Agent logic: plain objects with one entry point per superstep round.

An agent's :meth:`Agent.step` gets its round's inbox, already sorted by (sender, seq), and a
:class:`Context` through which it sends messages, asks to be woken at a later tick and writes
incident-log events. Nothing here knows about transports: the in-process bus and the SPADE
transport call the same ``step``. Everything an agent decides comes from its inbox, its own
state, the round's (tick, time) and its own seeded generator: no ground truth (health H
is the experimenter's; the guard measures an SLI from the monitors' telemetry instead).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from opstwin.agents.messages import Body, Message, make
from opstwin.twin.rng import generator


@dataclass
class Context:
    """What one agent sees and does in one round."""

    agent: str
    tick: int
    round: int
    t: float  # sim seconds
    seq: int  # the agent's message counter at the start of the round
    outbox: list[Message] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    wakes: list[int] = field(default_factory=list)

    def send(self, performative: str, kind: str, to: str, body: Body | dict, conversation: str | None = None) -> Message:
        self.seq += 1
        conv = conversation or f"{self.agent}-{self.tick}-{self.seq}"
        msg = make(performative, kind, self.agent, to, conv, body, self.tick, self.round, self.seq)
        self.outbox.append(msg)
        return msg

    def new_conversation(self) -> str:
        """A fresh deterministic conversation id (uses up one sequence number)."""
        self.seq += 1
        return f"{self.agent}-{self.tick}-{self.seq}"

    def wake_at(self, tick: int) -> None:
        """Be stepped (with whatever inbox) at `tick`, even if no message is due."""
        if tick > self.tick:
            self.wakes.append(int(tick))

    def log(self, kind: str, **fields: Any) -> None:
        """An incident-log event, stamped with sim time and this agent."""
        self.events.append({"t": self.t, "kind": kind, "agent": self.agent, **fields})


class Agent:
    """Base class: a name, a role, a seeded generator and a step."""

    role = "agent"

    def __init__(self, name: str, seed: int) -> None:
        self.name = name
        self.rng: np.random.Generator = generator(seed, "agent:" + name)
        self.seq = 0

    def step(self, ctx: Context, inbox: list[Message]) -> None:
        """Handle one round. Override; send through `ctx`."""

    def state(self) -> dict[str, Any]:
        """A small summary for the page and for debugging."""
        return {"name": self.name, "role": self.role}
