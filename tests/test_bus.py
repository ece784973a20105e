"""The superstep rule (docs/architecture.md): rounds inside ticks, delivery one round later, inboxes in
(sender, seq) order, quiet ticks cost nothing, wake-ups."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from opstwin.agents.base import Agent, Context
from opstwin.agents.bus import Clock, InProcTransport
from opstwin.agents.messages import Alert, Message, make
from opstwin.twin.eventlog import EventLog


def alert(name: str) -> Alert:
    return Alert(component=name, kind="service", symptoms=["errors"], severity=1.0)


class Echo(Agent):
    """Records what it got per round; on a message from `ping`, answers it; on a wake, says so."""

    def __init__(self, name: str, seed: int = 0, sends: int = 0, to: str = "", wake: int | None = None) -> None:
        super().__init__(name, seed)
        self.sends, self.to, self.wake = sends, to, wake
        self.seen: list[tuple[int, int, list[tuple[str, int]]]] = []

    def step(self, ctx: Context, inbox: list[Message]) -> None:
        self.seen.append((ctx.tick, ctx.round, [(m.sender, m.seq) for m in inbox]))
        for m in inbox:
            assert m.round == ctx.round - 1, "delivered exactly one round after it was sent"
        for _ in range(self.sends):
            ctx.send("inform", "alert", self.to, alert(self.name))
        self.sends = 0
        if self.wake is not None:
            ctx.wake_at(self.wake)
            self.wake = None


def make_clock(*agents: Agent) -> tuple[Clock, EventLog]:
    log = EventLog()
    return Clock(InProcTransport(list(agents)), [a.name for a in agents], log), log


def test_a_quiet_tick_runs_no_round_and_sends_nothing():
    a, b = Echo("a"), Echo("b")
    clock, log = make_clock(a, b)
    assert clock.tick(1, 10.0) == 0
    assert a.seen == b.seen == [] and clock.messages == 0 and log.events == []


def test_messages_arrive_one_round_later_sorted_by_sender_then_seq():
    z, y, sink = Echo("z", sends=2, to="sink"), Echo("y", sends=1, to="sink"), Echo("sink")
    clock, log = make_clock(z, y, sink)
    rounds = clock.tick(1, 10.0, due={"z", "y"})
    assert rounds == 2  # round 0: y and z send; round 1: sink reads, sends nothing -> tick ends
    assert sink.seen == [(1, 1, [("y", 1), ("z", 1), ("z", 2)])]
    assert [e["from"] for e in log.events] == ["y", "z", "z"]  # logged in agent-name order
    assert clock.messages == 3 and clock.rounds == 2


def test_an_agent_is_woken_at_the_tick_it_asked_for_and_not_before():
    a = Echo("a", wake=5)
    clock, _ = make_clock(a)
    clock.tick(1, 10.0, due={"a"})
    for t in (2, 3, 4):
        assert clock.tick(t, t * 10.0) == 0
    assert clock.next_wake() == 5
    assert clock.tick(5, 50.0) == 1
    assert [s[0] for s in a.seen] == [1, 5]


def test_a_message_to_an_agent_not_on_the_roster_is_logged_and_not_delivered():
    a = Echo("a", sends=1, to="mallory")
    clock, log = make_clock(a)
    clock.tick(1, 10.0, due={"a"})
    assert [e["kind"] for e in log.events] == ["msg_undeliverable"]


def test_bodies_are_checked_against_their_kind():
    with pytest.raises(ValueError):
        make("shout", "alert", "a", "b", "c", alert("x"), 1, 0, 1)
    with pytest.raises(ValidationError):
        make("inform", "alert", "a", "b", "c", {"component": "x"}, 1, 0, 1)  # no kind, symptoms, severity
    m = make("inform", "alert", "a", "b", "a-1-1", alert("x"), 1, 0, 1)
    assert Message.from_json(m.to_json()) == m and m.parsed() == alert("x")
