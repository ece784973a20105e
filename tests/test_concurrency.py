"""The team under concurrency: no fault left behind, no correct fix undone, no attempt wasted.

Each test is one mechanism of issue 11 in the small team-test cloud (tests/test_team.py), run
in-process with the default team; each failed before the mechanism was built.
"""

from __future__ import annotations

import copy
import json

from opstwin.agents.base import Context
from opstwin.agents.coordinator import MAX_RETRIES, Coordinator
from opstwin.agents.messages import ActionResult, Candidate, Diagnosis, make
from opstwin.agents.reasoners import RulesReasoner
from opstwin.agents.messages import Alert
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


def test_a_fault_folded_into_another_incident_is_diagnosed_when_that_one_resolves(tmp_path):
    """A bad deployment of api during a surge at web reads as the surge's cascade; when the surge's
    incident resolves, api still alerts and must get an incident of its own."""
    faults = [{"type": "traffic_spike", "target": "web", "factor": 4, "at": "1h", "duration": "20m"},
              {"type": "bad_deployment", "target": "api", "at": "3610s"}]
    summary = run(_scenario(faults), seed=1, out=tmp_path, agents=True)
    deploy = next(f for f in summary["faults"] if f["type"] == "bad_deployment")
    assert deploy["mitigated"], "the folded-in deployment was left unmitigated"


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


def test_a_rate_limit_that_sheds_a_surge_is_not_undone(tmp_path):
    """The rate limit turns users away at web (its own errors rise) to spare what web calls: judged on
    its callers and dependencies, it is a correct fix and must stand."""
    summary = run(_scenario([{"type": "traffic_spike", "target": "web", "factor": 4, "at": "1h"}]), seed=1,
                  out=tmp_path, agents=True)
    assert not _events(tmp_path, "tnr_violation")
    assert summary["metrics"]["tnr_undos_unjustified"] == 0 and summary["faults"][0]["mitigated"]


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
