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

    def lose(self, tick: int, round_: int, t: float, names: list[str]) -> list[Report]:
        """`names` crashed: never step them again; tell the coordinator and the guard (their reports)."""

    def close(self) -> None: ...


def message_event(m: Message) -> dict[str, Any]:
    """How a message appears in the incident log."""
    return {"type": m.kind, "perf": m.performative, "from": m.sender, "to": m.receiver, "conv": m.conversation,
            "tick": m.tick, "round": m.round, "seq": m.seq, "body": m.body}


TOLD = ("coordinator", "guard")  # the agents told of every loss, in this order


def tell_lost(agent: Agent, ctx: Context, names: list[str], specialists: set[str]) -> None:
    """`agent` (the coordinator or the guard) hears that `names` are gone: the coordinator re-auctions a
    lost specialist's work, the guard stops waiting for a lost monitor; then it steps with no inbox
    (e.g. to award a task whose last awaited bid was the lost one's). Every transport calls this."""
    on_specialist = getattr(agent, "specialist_lost", None)
    on_agent = getattr(agent, "agent_lost", None)
    for name in names:
        if on_specialist is not None and name in specialists:
            on_specialist(ctx, name)
        if on_agent is not None:
            on_agent(ctx, name)
    agent.step(ctx, [])


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
        self._post(reports)
        return reports

    def lose(self, tick, round_, t, names):
        specialists = {n for n in names if getattr(self.agents.get(n), "role", "") == "specialist"}
        for n in names:
            self.agents.pop(n, None)
            self.mail.pop(n, None)
        reports = []
        for name in TOLD:
            agent = self.agents.get(name)
            if agent is None:
                continue
            ctx = Context(name, tick, round_, t, agent.seq)
            tell_lost(agent, ctx, names, specialists)
            agent.seq = ctx.seq
            reports.append(Report(name, ctx.outbox, ctx.events, ctx.wakes))
        self._post(reports)
        return reports

    def _post(self, reports: list[Report]) -> None:
        for report in reports:
            for m in report.outbox:
                if m.receiver in self.agents:  # else the clock logs it as undeliverable
                    self.mail[m.receiver].append(m)

    def close(self) -> None:
        self.mail.clear()


class Clock:
    """Runs the rounds of each tick (see the module docstring)."""

    def __init__(self, transport: Transport, names: list[str], log: EventLog,
                 crashes: dict[str, tuple[int, str]] | None = None) -> None:
        self.transport = transport
        self.names = set(names)
        self.log = log
        self.crashes = dict(crashes or {})  # name -> (tick it crashes at, why): a scenario's crash_at
        self.crashed: set[str] = set()
        self._wakes: list[tuple[int, str]] = []
        self.messages = 0
        self.rounds = 0
        self.by_kind: Counter[str] = Counter()

    def next_wake(self) -> int | None:
        return self._wakes[0][0] if self._wakes else None

    def tick(self, tick: int, t: float, due: set[str] = frozenset()) -> int:
        """Run every round of `tick`; returns the number of rounds (0 for a quiet tick).

        Agents due to crash at this tick go first, in a round of their own: each is logged lost and
        never stepped again, the coordinator and the guard hear of it (their reports are that round's),
        and what they send is delivered in the next round, as for any round."""
        active = set(due)
        while self._wakes and self._wakes[0][0] <= tick:
            active.add(heapq.heappop(self._wakes)[1])
        round_ = 0
        counts: Counter[str] = Counter()
        crashing = sorted(n for n, (at, _) in self.crashes.items() if at <= tick and n not in self.crashed)
        if crashing:
            self.crashed.update(crashing)
            lost = [Report(n, events=[{"t": t, "kind": "agent_lost", "agent": n, "tick": tick, "round": round_,
                                       "reason": self.crashes[n][1]}]) for n in crashing]
            counts = self._log_round(tick, t, lost + self.transport.lose(tick, round_, t, crashing))
            round_ += 1
        expected = {name: counts.get(name, 0) for name in active | set(counts)
                    if name in self.names and name not in self.crashed}
        while expected:
            counts = self._log_round(tick, t, self.transport.run_round(tick, round_, t, expected))
            round_ += 1
            expected = {name: c for name, c in counts.items() if name not in self.crashed}
        return round_

    def _log_round(self, tick: int, t: float, reports: list[Report]) -> Counter[str]:
        """Log a round's messages and events (by agent name, then order of emission), queue its wake-ups;
        returns the messages each agent must receive in the next round."""
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
        return counts
