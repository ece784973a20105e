"""The team under concurrency: no fault left behind, no correct fix undone, no attempt wasted.

Each test is one mechanism of issue 11 in the small team-test cloud (tests/test_team.py), run
in-process with the default team; each failed before the mechanism was built.
"""

from __future__ import annotations

import copy
import json

import math

from opstwin.agents.base import Context
from opstwin.agents.coordinator import MAX_RETRIES, Coordinator
from opstwin.agents.diagnoser import ORPHAN_WAIT, Diagnoser
from opstwin.agents.guard import Guard
from opstwin.agents.messages import ActionResult, Alert, Approval, Candidate, Diagnosis, IncidentUpdate, Sli, make
from opstwin.agents.reasoners import RulesReasoner
from opstwin.agents.spec import GuardSpec
from opstwin.engine.runner import run
from opstwin.scenarios.loader import parse
from opstwin.twin.topology import Topology

from test_team import CLOUD


def _scenario(faults: list[dict], duration: str = "4h", **agents):
    data = copy.deepcopy(CLOUD)
    data["duration"] = duration
    data["faults"] = {"scheduled": faults}
    if agents:
        data["agents"] = agents
    return parse(data)


def _events(out, kind: str | None = None) -> list[dict]:
    lines = [json.loads(line) for line in (out / "incidents.jsonl").read_text().splitlines()]
    return [e for e in lines if kind is None or e["kind"] == kind]


def _alert(component: str, *symptoms: str, cleared: bool = False) -> Alert:
    return Alert(component=component, kind="service", symptoms=list(symptoms), severity=1.0, cleared=cleared)


class _Desk:
    """Drives one agent round by round with messages from named senders."""

    def __init__(self, agent) -> None:
        self.agent, self.tick, self.seq = agent, 0, 0

    def step(self, *messages: tuple, ticks: int = 1) -> Context:
        """`ticks` rounds, `messages` (performative, kind, sender, body[, conversation]) in the first;
        the last round's context, holding the events of all of them."""
        events: list[dict] = []
        for k in range(ticks):
            self.tick += 1
            inbox = []
            for performative, kind, sender, body, *conv in (messages if k == 0 else ()):
                self.seq += 1
                inbox.append(make(performative, kind, sender, self.agent.name, conv[0] if conv else f"c{self.seq}",
                                  body, self.tick, 0, self.seq))
            ctx = Context(self.agent.name, self.tick, 0, self.tick * 10.0, 1000 * self.tick)
            self.agent.step(ctx, inbox)
            events += ctx.events
        ctx.events = events
        return ctx


def _diagnoser() -> Diagnoser:
    topo = Topology.build(parse(copy.deepcopy(CLOUD)).topology)
    return Diagnoser("diagnoser", 1, RulesReasoner(topo), 10.0, gather=20.0)


def _opened(ctx: Context) -> list[dict]:
    return [e for e in ctx.events if e["kind"] == "incident_opened"]


def test_an_alert_left_when_its_incident_resolves_is_diagnosed_as_its_own_incident():
    """api's alert reads as db's cascade and is folded into db's incident; when db is fixed and
    quiet, api still alerts (it has a fault of its own): it must be looked at again."""
    desk, opened = _Desk(_diagnoser()), []
    ctx = desk.step(("inform", "alert", "monitor-0", _alert("db", "down", "errors", "log:refused")),
                    ("inform", "alert", "monitor-0", _alert("api", "errors", "log:upstream", "log:timeout")), ticks=4)
    assert [e["root"] for e in _opened(ctx)] == ["db"] and desk.agent.incidents["inc1"].covers >= {"api"}
    ctx = desk.step(("inform", "alert", "monitor-0", _alert("db", cleared=True)))
    assert [e["kind"] for e in ctx.events] == ["incident_resolved"]
    for _ in range(math.ceil(ORPHAN_WAIT / 10.0) + 1):  # api keeps alerting, unchanged
        opened += _opened(desk.step())
    assert len(opened) == 1 and "api" in opened[0]["covers"], "the orphaned alert got an incident of its own"


def test_an_escalated_incident_does_not_swallow_a_new_fault_on_its_component(tmp_path):
    """A config drift the human keeps (its fix needs an approval the unattended default denies) ends;
    an exhausted connection pool on the same service half an hour later is a new fault, diagnosed and fixed."""
    faults = [{"type": "config_drift", "target": "api", "at": "1h", "duration": "15m"},
              {"type": "connection_pool_exhaustion", "target": "api", "at": "105m"}]
    guard = {"approval": {"actions": ["revert_config"], "default": "deny"}}
    summary = run(_scenario(faults, guard=guard), seed=1, out=tmp_path, agents=True)
    assert summary["metrics"]["escalations"] >= 1, "the drift is the human's"
    crash = next(f for f in summary["faults"] if f["type"] == "connection_pool_exhaustion")
    assert crash["diagnosed_at"] is not None and crash["mitigated"]


def _guard() -> Guard:
    topo = Topology.build(parse(copy.deepcopy(CLOUD)).topology)
    return Guard("guard", 1, GuardSpec(), 10.0, topo, ["monitor-0"])


def _judge(own_after: tuple[int, int], resolved_first: bool = False,
           own_as_it_took_effect: tuple[int, int] = (3, 3), action: str = "restart_service") -> list[str]:
    """A restart of api approved at SLI 1.0; the tick before it took effect api's own three
    objectives are `own_as_it_took_effect`; after it settles its scope (web, api, auth, db, cache:
    15 objectives) has lost two; api's own are `own_after`. The guard's events."""
    desk, events = _Desk(_guard()), []
    ctx = desk.step(("request", "approval", "compute", Approval(task="t1", action=action, target="api")))
    (query,) = [m for m in ctx.outbox if m.kind == "sli_query"]
    assert set(query.parsed().own) == {"api"}
    sli = lambda good, own: Sli(task="t1", good=good, total=15, own_good=own[0], own_total=own[1])  # noqa: E731
    desk.step(("inform", "sli", "monitor-0", sli(15, (3, 3)), query.conversation))
    ok = ActionResult(task="t1", action_id="a1", action=action, target="api", status="succeeded",
                      finished_at=30.0)
    ctx = desk.step(("inform", "action_result", "compute", ok))
    (query,) = [m for m in ctx.outbox if m.kind == "sli_query"]
    assert query.parsed().at_tick == 2, "the tick before the restart took effect (t = 30 s, 10 s ticks)"
    good = 15 - (own_as_it_took_effect[1] - own_as_it_took_effect[0])
    desk.step(("inform", "sli", "monitor-0", sli(good, own_as_it_took_effect), query.conversation))
    if resolved_first:
        events += desk.step(("inform", "incident", "coordinator",
                             IncidentUpdate(incident="inc1", status="resolved", task="t1"))).events
    for _ in range(13):  # settle: 120 s
        ctx = desk.step()
        events += ctx.events
        for q in [m for m in ctx.outbox if m.kind == "sli_query"]:
            events += desk.step(("inform", "sli", "monitor-0", sli(13, own_after), q.conversation)).events
    return [e["kind"] for e in events]


def test_a_regression_off_the_actions_own_services_does_not_undo_it():
    """Callers or dependencies that got worse while api itself held were hurt by something else."""
    assert _judge(own_after=(3, 3)) == ["tnr_ok"]
    assert _judge(own_after=(1, 3)) == ["tnr_violation"], "through api itself: the restart is to blame"


def test_what_got_worse_before_the_action_took_effect_is_not_held_against_it():
    """A second fault ramping up on api while the restart rolled: api had already lost two
    objectives before the restart could act, and the restart did not make it worse."""
    assert _judge(own_after=(1, 3), own_as_it_took_effect=(1, 3)) == ["tnr_ok"]
    assert _judge(own_after=(1, 3), own_as_it_took_effect=(3, 3)) == ["tnr_violation"]


def test_a_rollback_is_never_undone_into_the_release_it_rolled_back():
    """Undoing a rollback redeploys the version diagnosed bad: on a regression it is kept and the
    incident moves on (a restart with the same figures is undone)."""
    assert _judge(own_after=(1, 3), action="rollback_deployment") == ["tnr_kept"]
    assert _judge(own_after=(1, 3), action="restart_service") == ["tnr_violation"]


def test_an_action_whose_incident_resolved_is_not_judged():
    """Undoing a fix after its incident resolved would reopen the fault it fixed."""
    assert _judge(own_after=(1, 3), resolved_first=True) == ["tnr_resolved"]


def _coordinator() -> Coordinator:
    return Coordinator("coordinator", 1, {"compute": ["compute"]}, 10.0, verify=240.0, max_attempts=3)


def _deliver(coord: Coordinator, tick: int, *messages) -> Context:
    ctx = Context("coordinator", tick, 0, tick * 10.0, 0)
    coord.step(ctx, list(messages))
    return ctx


def test_a_failed_action_is_retried_with_back_off_before_the_plan_moves_on():
    coord = _coordinator()
    diag = Diagnosis(incident="inc1", candidates=[Candidate(component="api", kind="service", fault="memory_leak",
                                                            confidence=0.9, actions=[("restart_service", "api", {})])])
    ctx = _deliver(coord, 1, make("inform", "diagnosis", "diagnoser", "coordinator", "c", diag.model_dump(), 1, 0, 1))
    tick, retries_at = 1, []
    for attempt in range(MAX_RETRIES + 1):
        (cfp,) = [m for m in ctx.outbox if m.kind == "task"]
        task = cfp.parsed().task
        failed = ActionResult(task=task, action_id=f"a{attempt}", action="restart_service", target="api",
                              status="failed", reason="transient")
        tick += 1
        ctx = _deliver(coord, tick, make("failure", "action_result", "compute", "coordinator", cfp.conversation,
                                         failed.model_dump(), tick, 0, attempt + 2))
        plan = coord.plans["inc1"]
        if attempt < MAX_RETRIES:
            assert plan.status == "open" and plan.retry_at is not None
            retries_at.append(plan.retry_at - tick)
            tick = plan.retry_at
            ctx = _deliver(coord, tick)
    assert retries_at == [3, 6], "back-off doubles: 30 s, then 60 s"
    assert coord.plans["inc1"].attempts == 1, "retries of a transient failure are not new attempts"


def test_failover_is_never_proposed_for_a_service_without_a_standby_host():
    topo = Topology.build(parse(copy.deepcopy(CLOUD)).topology)
    reasoner = RulesReasoner(topo)
    for service, standby in (("api", False), ("db", True)):
        alert = Alert(component=service, kind="service", symptoms=["down", "errors", "log:refused"], severity=1.0,
                      host=topo.service_spec(service).host)
        actions = {a for g in reasoner.localize({service: alert}) for c in g.candidates for a, _, _ in c.actions}
        assert ("failover" in actions) is standby, service


def test_a_slow_memory_leak_is_caught_by_its_trend_before_gc_pauses(tmp_path):
    """A leak that takes three hours to an OOM kill: memory passes the GC threshold (0.8) only after
    about two; its growth, projected an hour ahead, alerts about an hour in, and names the leak."""
    faults = [{"type": "memory_leak", "target": "api", "at": "1h", "oom_after": "3h"}]
    summary = run(_scenario(faults, duration="5h"), seed=1, out=tmp_path, agents=True)
    leak = summary["faults"][0]
    assert leak["ttd_s"] is not None and leak["ttd_s"] < 80 * 60
    first = next(e for e in _events(tmp_path, "msg") if e["type"] == "alert" and e["body"]["component"] == "api")
    assert "memory_growth" in first["body"]["symptoms"] and first["body"]["values"]["memory"] < 0.8
    assert leak["mitigated"] and leak["rca_type_ac1"]



def test_a_release_twice_as_slow_is_caught_by_deployment_verification_within_its_slo(tmp_path):
    """A release of auth 2.5 times slower stays well within auth's SLO, so no SLO rule fires;
    comparing p99 after the version change with before it does, and the rollback follows."""
    faults = [{"type": "bad_deployment", "target": "auth", "at": "1h", "latency_factor": 2.5}]
    summary = run(_scenario(faults, duration="3h"), seed=1, out=tmp_path, agents=True)
    release = summary["faults"][0]
    assert release["ttd_s"] is not None and release["ttd_s"] < 600
    first = next(e for e in _events(tmp_path, "msg") if e["type"] == "alert" and e["body"]["component"] == "auth")
    assert "latency_regression" in first["body"]["symptoms"] and first["body"]["values"]["p99_slo"] < 1.0
    assert release["mitigated"] and release["rca_type_ac1"]


def test_k_of_n_windows_count_an_intermittent_symptom_that_consecutive_ticks_miss():
    from opstwin.agents.monitor import _Track
    from opstwin.agents.spec import MonitorSpec

    every_other = [True, False] * 4
    consecutive, windowed = _Track(), _Track()
    for flagged in every_other:
        consecutive.see(flagged, window=2)
        windowed.see(flagged, window=4)
    assert windowed.flagged == 2 and consecutive.flagged == 1  # 2 of 4 alerts at persistence 2; 2 in a row never
    for _ in range(4):
        windowed.see(False, window=4)
    assert windowed.flagged == 0 and windowed.normal == 5
    assert MonitorSpec().window is None  # the default stays consecutive (see Monitor.window)
    try:
        MonitorSpec(persistence=3, window=2)
    except ValueError as exc:
        assert "at least persistence" in str(exc)
    else:
        raise AssertionError("a window shorter than persistence was accepted")


def test_a_noisy_neighbour_below_saturation_is_seen_against_the_hosts_own_baseline(tmp_path):
    """A co-tenant taking a third of a quiet host never pushes it past 1.0 (no service queues yet): seen
    only as CPU its services' load does not explain, against the host's own hourly baseline."""
    scenario = parse({"name": "quiet-neighbour", "duration": 14400, "topology": {"generate": {"services": 40}},
                      "faults": {"scheduled": [{"type": "cpu_saturation", "target": "host-2", "at": 5400,
                                                "intensity": 0.35, "duration": 7200}]}})
    summary = run(scenario, seed=1, agents=True, transport="inproc", out=tmp_path)
    events = [json.loads(x) for x in (tmp_path / "incidents.jsonl").read_text().splitlines()]
    alerts = [e["body"] for e in events if e["kind"] == "msg" and e["type"] == "alert" and e["body"]["component"] == "host-2"]
    assert alerts and "host_cpu" in alerts[0]["symptoms"] and alerts[0]["values"]["cpu"] < 1.0
    assert summary["metrics"]["mitigation_success_rate"] == 1.0
    assert summary["metrics"]["false_alerts"] == 0
