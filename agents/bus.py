"""Supersteps: how sim time and agent time are joined (docs/architecture.md, "Supersteps").

Within a tick, agents run in rounds. A message sent in round r is delivered in round r+1.
The :class:`Clock` starts a round only when every agent has reported the previous one done,
telling each agent stepped in it how many messages it must receive; an agent handles its
inbox sorted by (sender, seq). A round that sends nothing ends the tick. Only agents with a
message due, a wake-up tick they asked for, or (twin-side agents) fresh telemetry or a
finished action are stepped, so quiet ticks cost nothing.

The clock is transport-independent: a :class:`Transport` runs one round and returns each
stepped agent's :class:`Report`. :class:`InProcTransport` calls the agents directly; the SPADE
transport carries the same rounds over XMPP. Incident-log events are written by the clock in
(agent name, order of emission) order, so the log is the same whatever the transport.
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Protocol

from opstwin.agents.base import Agent, Context
from opstwin.agents.messages import Message
from opstwin.twin.eventlog import EventLog


@dataclass
class Report:
    """What one agent did in one round."""

    agent: str
    outbox: list[Message] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    wakes: list[int] = field(default_factory=list)


class Transport(Protocol):
    def run_round(self, tick: int, round_: int, t: float, expected: dict[str, int]) -> list[Report]:
        """Step every agent in `expected` (name -> messages it must receive first); return their reports."""

    def close(self) -> None: ...


def message_event(m: Message) -> dict[str, Any]:
    """How a message appears in the incident log."""
    return {"type": m.kind, "perf": m.performative, "from": m.sender, "to": m.receiver, "conv": m.conversation,
            "tick": m.tick, "round": m.round, "seq": m.seq, "body": m.body}


class InProcTransport:
    """Agents in this process, stepped in name order; mailboxes held here."""

    def __init__(self, agents: list[Agent]) -> None:
        self.agents = {a.name: a for a in agents}
        self.mail: dict[str, list[Message]] = defaultdict(list)

    def run_round(self, tick, round_, t, expected):
        reports = []
        for name in sorted(expected):
            inbox = sorted(self.mail.pop(name, []), key=lambda m: m.order)
            if len(inbox) != expected[name]:
                raise RuntimeError(f"{name}: expected {expected[name]} messages in round {round_}, got {len(inbox)}")
            agent = self.agents[name]
            ctx = Context(name, tick, round_, t, agent.seq)
            agent.step(ctx, inbox)
            agent.seq = ctx.seq
            reports.append(Report(name, ctx.outbox, ctx.events, ctx.wakes))
        for report in reports:
            for m in report.outbox:
                if m.receiver not in self.agents:
                    continue  # the clock logs it as undeliverable
                self.mail[m.receiver].append(m)
        return reports

    def close(self) -> None:
        self.mail.clear()


class Clock:
    """Runs the rounds of each tick (see the module docstring)."""

    def __init__(self, transport: Transport, names: list[str], log: EventLog) -> None:
        self.transport = transport
        self.names = set(names)
        self.log = log
        self._wakes: list[tuple[int, str]] = []
        self.messages = 0
        self.rounds = 0
        self.by_kind: Counter[str] = Counter()

    def next_wake(self) -> int | None:
        return self._wakes[0][0] if self._wakes else None

    def tick(self, tick: int, t: float, due: set[str] = frozenset()) -> int:
        """Run every round of `tick`; returns the number of rounds (0 for a quiet tick)."""
        active = set(due)
        while self._wakes and self._wakes[0][0] <= tick:
            active.add(heapq.heappop(self._wakes)[1])
        expected = {name: 0 for name in active if name in self.names}
        round_ = 0
        while expected:
            reports = self.transport.run_round(tick, round_, t, expected)
            counts: Counter[str] = Counter()
            for report in sorted(reports, key=lambda r: r.agent):
                for m in report.outbox:
                    self.messages += 1
                    self.by_kind[m.kind] += 1
                    if m.receiver in self.names:
                        counts[m.receiver] += 1
                        self.log.emit(t, "msg", **message_event(m))
                    else:
                        self.log.emit(t, "msg_undeliverable", **message_event(m))
                for event in report.events:
                    self.log.emit(**event)
                for w in sorted(set(report.wakes)):
                    if w > tick:
                        heapq.heappush(self._wakes, (w, report.agent))
            self.rounds += 1
            round_ += 1
            expected = dict(counts)
        return round_
