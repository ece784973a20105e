"""Scoring definitions that a shotgun cannot game: fault type in AC@k, harmful actions, error budget."""

from __future__ import annotations

import pytest

from opstwin.evaluation.metrics import compute, fault_root
from opstwin.twin.topology import Topology

TICK = 10.0


@pytest.fixture
def topo(small_topology) -> Topology:
    return Topology.build(small_topology)


def leak(start: float = 100.0, resolved_at: float | None = 400.0, by: str | None = "a2") -> dict:
    return {"id": "f1", "type": "memory_leak", "category": "compute", "target": "api", "target_kind": "service",
            "start": start, "params": {}, "fixes": [], "resolved_at": resolved_at, "resolved_by": by}


def diagnosis(t: float, *candidates: tuple[str, str]) -> dict:
    return {"t": t, "kind": "msg", "type": "diagnosis", "body": {"candidates": [
        {"component": c, "kind": "service", "fault": f} for c, f in candidates]}}


def action(t: float, aid: str, target: str, done: float) -> list[dict]:
    return [{"t": t, "kind": "action_started", "action_id": aid, "target": target, "by": "compute"},
            {"t": done, "kind": "action_succeeded", "action_id": aid, "target": target, "by": "compute"}]


def test_type_accuracy_needs_the_right_component_and_the_right_fault(topo):
    right_place_wrong_type = [diagnosis(200.0, ("api", "bad_deployment"), ("api", "memory_leak"))]
    m, rows = compute(right_place_wrong_type, [leak()], topo, 1000.0, [1.0] * 100, TICK, per_fault=True)
    assert (m["rca_ac1"], m["rca_type_ac1"], m["rca_type_ac3"]) == (1.0, 0.0, 1.0)
    assert rows[0]["diagnosed_at"] == 200.0 and rows[0]["rca_ac1"] and not rows[0]["rca_type_ac1"]


def test_actions_off_the_root_or_that_lower_health_are_harmful(topo):
    health = [1.0] * 100
    health[30:] = [0.9] * 70  # the tick ending at 310 s, right after the action at 290..300 s, is worse
    events = [*action(200.0, "a1", "api", 250.0),   # the fault's own component: fine
              *action(210.0, "a2", "h1", 260.0),    # a host nothing faulty runs on: off the root
              *action(290.0, "a3", "api", 300.0)]   # on the root, but health fell across it
    m = compute(events, [leak(by="a1")], topo, 1000.0, health, TICK)
    assert m["harmful_actions"] == 2 and m["actions_per_fault"] == 3.0


def test_a_host_fault_root_holds_its_services(topo):
    host = {**leak(), "type": "host_failure", "target": "h2", "target_kind": "host"}
    assert fault_root(host, topo) == {"h2", "api", "db"}


def test_slo_minutes_lost_is_the_error_budget_burnt(topo):
    health = [1.0] * 60 + [0.0] * 6 + [0.5] * 12  # one minute down, then two minutes at half
    m = compute([], [], topo, 780.0, health, TICK)
    assert m["slo_minutes_lost"] == pytest.approx(2.0)


def alert(t: float, comp: str) -> dict:
    return {"t": t, "kind": "msg", "type": "alert", "body": {"component": comp, "cleared": False}}


@pytest.mark.parametrize(("fixed_at", "mitigated"), [(1900.0, True), (2000.0, False)])
def test_a_fix_counts_as_mitigation_only_within_the_response_window(topo, fixed_at, mitigated):
    """Detected at 150 s: a fix ending by 150 + 1800 s is the team's; later, a human would have taken over."""
    events = [alert(150.0, "api"), *action(fixed_at - 50.0, "a1", "api", fixed_at)]
    m, rows = compute(events, [leak(resolved_at=fixed_at, by="a1")], topo, 4000.0, [1.0] * 400, TICK,
                      per_fault=True)
    assert rows[0]["mitigated"] is mitigated and rows[0]["fixed_late"] is not mitigated
    assert m["mitigation_success_rate"] == float(mitigated) and m["faults_resolved"] == 1
    assert rows[0]["ttm_s"] == fixed_at - 100.0, "time to mitigate counts late fixes too"


def test_an_undone_right_fix_counts_as_an_unjustified_undo(topo):
    undo = {"t": 500.0, "kind": "tnr_violation", "action_id": "a1"}
    wrong = [{**a, "action": "reboot_host"} for a in action(200.0, "a1", "h1", 250.0)]
    right = [{**a, "action": "rollback_deployment"} for a in action(200.0, "a1", "api", 250.0)]
    fault = {**leak(resolved_at=None, by=None), "fixes": [["rollback_deployment", "api"]]}
    assert compute([*wrong, undo], [fault], topo, 1000.0, [1.0] * 100, TICK)["tnr_undos_unjustified"] == 0
    m = compute([*right, undo], [fault], topo, 1000.0, [1.0] * 100, TICK)
    assert (m["tnr_undos"], m["tnr_undos_unjustified"]) == (1, 1)
