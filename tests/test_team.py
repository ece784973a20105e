"""The agent team in-process: every fault type found, localized and fixed; TNR; quiet days.

Each scenario here is the same small cloud with one fault (or none), run for four hours with
the default team; the facts asserted are the ones the README's metrics table defines.
"""

from __future__ import annotations

import copy
import json

import pytest

from opstwin.agents import reasoners
from opstwin.agents.runbook import RUNBOOK, Hypothesis
from opstwin.faults.catalog import CATALOG
from opstwin.scenarios.loader import parse
from opstwin.engine.runner import run

CLOUD = {
    "name": "team-test",
    "duration": "4h",
    "tick": "10s",
    "topology": {
        "hosts": [
            {"name": "h1", "disks": [{"name": "d1", "size": "100GB", "used": "10GB"}]},
            {"name": "h2", "disks": [{"name": "d2", "size": "100GB", "used": "10GB"}]},
            {"name": "h3"},
        ],
        "services": [
            {"name": "web", "host": "h1", "entry": True, "replicas": 3, "depends_on": ["api", "auth"], "disk": "d1"},
            {"name": "auth", "host": "h2", "replicas": 2, "capacity": 300},
            {"name": "api", "host": "h2", "replicas": 3, "depends_on": ["db", "cache"], "disk": "d2"},
            {"name": "cache", "host": "h3", "replicas": 2, "capacity": 400},
            {"name": "db", "host": "h3", "standby_host": "h2", "replicas": 1, "capacity": 800},
        ],
    },
    "load": {"rps": 150},
}
TARGET = {"service": "api", "host": "h2", "disk": "d2"}
SPECIAL = {
    "traffic_spike": {"target": "web", "factor": 4},
    "network_partition": {"target": "h2", "peer": "h3"},
    "dependency_outage": {"target": "db"},
    "certificate_expiry": {"target": "auth"},
}


def scenario_with(fault: dict | None = None, **agents):
    data = copy.deepcopy(CLOUD)
    if fault:
        data["faults"] = {"scheduled": [fault]}
    if agents:
        data["agents"] = agents
    return parse(data)


def one_fault(kind: str) -> dict:
    entry = {"type": kind, "target": TARGET[CATALOG[kind].target], "at": "1h"}
    entry.update(SPECIAL.get(kind, {}))
    return entry


def events(out, kind=None):
    lines = [json.loads(line) for line in (out / "incidents.jsonl").read_text().splitlines()]
    return [e for e in lines if kind is None or e["kind"] == kind]


@pytest.mark.parametrize("kind", sorted(CATALOG))
def test_every_fault_type_is_detected_localized_remediated_and_health_restored(kind, tmp_path):
    summary = run(scenario_with(one_fault(kind)), seed=1, out=tmp_path, agents=True)
    m = summary["metrics"]
    assert m["detection_recall"] == 1.0, "detected"
    assert m["rca_ac1"] == 1.0, "localized: the first diagnosis names the fault's component first"
    assert m["faults_resolved"] == 1 and m["mitigation_success_rate"] == 1.0, "remediated by the team"
    # (a traffic spike's rate limit goes on turning 2% of users away with 429s, which telemetry counts
    # apart from server errors: the team does not chase its own limiter)
    assert m["false_alerts"] == 0 and m["escalations"] == 0
    fault = summary["faults"][0]
    fixer = next(e for e in events(tmp_path, "action_succeeded") if e["action_id"] == fault["resolved_by"])
    assert [fixer["action"], fixer["target"]] in fault["fixes"] and fixer["by"] != "operator"
    assert summary["health"]["final"] >= 0.99, "health restored"
    assert m["mttr_mean_s"] is not None and m["mttr_mean_s"] < 3600


def test_a_harmful_fix_is_undone_by_the_guard_and_the_incident_fixed_another_way(tmp_path, monkeypatch):
    # force the team's first idea for a memory leak to be a harmful one: scale down to one replica
    # (the leak ships with a version, so the first diagnosis may well be a bad deployment: both)
    harmful = tuple(
        Hypothesis(h.fault, h.kind, h.category, h.evidence,
                   (("scale_service", {"replicas": 1}), *h.fixes), h.needs)
        if h.fault in ("memory_leak", "bad_deployment") else h
        for h in RUNBOOK
    )
    monkeypatch.setattr(reasoners, "RUNBOOK", harmful)
    # exact telemetry: the test is about the guard's undo, and needs the leak diagnosed as one before its
    # OOM kill (with default noise the first diagnosis may name another fault, and no harmful fix is tried)
    data = scenario_with(one_fault("memory_leak")).model_dump(mode="json")
    data["telemetry"] = {"noise": 0, "scrape_gap": 0}
    summary = run(parse(data), seed=1, out=tmp_path, agents=True)
    undone = events(tmp_path, "action_undone")
    assert undone and {(e["action"], e["target"], e["by"]) for e in undone} == {("scale_service", "api", "guard")}
    violation = events(tmp_path, "tnr_violation")[0]
    assert violation["after"] < violation["before"] - 0.02 and violation["scope"] >= 3  # api, its callers and dependencies
    assert violation["own_after"] < violation["own_before"] - 0.02  # through api itself: it is to blame
    assert summary["metrics"]["tnr_undos"] == len(undone) and summary["metrics"]["tnr_undos_unjustified"] == 0
    fault = summary["faults"][0]
    fixer = next(e for e in events(tmp_path, "action_succeeded") if e["action_id"] == fault["resolved_by"])
    assert fixer["action"] == "rollback_deployment" and fixer["t"] > violation["t"]  # the leak came with a version
    assert summary["metrics"]["faults_resolved"] == 1


def test_actions_on_the_approval_list_follow_the_unattended_default(tmp_path):
    scenario = scenario_with(one_fault("memory_leak"),
                             guard={"approval": {"actions": ["rollback_deployment", "restart_service"],
                                                 "default": "deny"},
                                    "max_attempts": 2})
    summary = run(scenario, seed=1, out=tmp_path, agents=True)
    approvals = events(tmp_path, "approval")
    assert approvals and all(a["decision"] == "deny" for a in approvals)
    assert {a["action"] for a in approvals} == {"rollback_deployment", "restart_service"}
    assert not events(tmp_path, "action_started")
    assert summary["metrics"]["escalations"] == 1


def test_a_quiet_day_gets_no_alerts_and_no_actions(tmp_path):
    data = copy.deepcopy(CLOUD)
    data["duration"] = "24h"
    summary = run(parse(data), seed=3, out=tmp_path, agents=True)
    assert summary["metrics"]["false_alerts_per_day"] == 0
    assert not events(tmp_path, "action_started")
    assert summary["messages"] == 0 and summary["rounds"] == 0, "quiet ticks cost no messages"


def test_same_scenario_and_seed_give_the_same_incident_log(tmp_path):
    scenario = scenario_with(one_fault("crash_loop"))
    a = run(scenario, seed=5, out=tmp_path / "a", agents=True)
    b = run(scenario, seed=5, out=tmp_path / "b", agents=True)
    assert a["log_sha256"] == b["log_sha256"]
    assert (tmp_path / "a" / "incidents.jsonl").read_bytes() == (tmp_path / "b" / "incidents.jsonl").read_bytes()
    c = run(scenario, seed=6, out=tmp_path / "c", agents=True)
    assert c["log_sha256"] != a["log_sha256"]


@pytest.mark.parametrize("detector", ["isolation_forest", "lof", "ocsvm", "threshold"])
def test_every_detector_runs_in_a_sharded_team_and_finds_a_leak(detector, tmp_path):
    # the detectors' own judgement is tested in test_detectors.py; here: each one wires into the team
    summary = run(scenario_with(one_fault("memory_leak"), monitor={"detector": detector, "shards": 2}),
                  seed=2, out=tmp_path, agents=True)
    assert summary["metrics"]["detection_recall"] == 1.0 and summary["metrics"]["faults_resolved"] == 1


def test_the_log_holds_the_contract_net(tmp_path):
    run(scenario_with(one_fault("disk_fill")), seed=1, out=tmp_path, agents=True)
    msgs = events(tmp_path, "msg")
    perfs = [m["perf"] for m in msgs if m["type"] in ("task", "bid", "refusal", "award")]
    assert perfs[0] == "cfp" and "propose" in perfs and "accept-proposal" in perfs
    cfp = next(m for m in msgs if m["perf"] == "cfp")
    assert cfp["to"] == "storage" and cfp["body"]["action"] == "clean_disk" and cfp["body"]["target"] == "d2"
    award = next(m for m in msgs if m["perf"] == "accept-proposal")
    assert award["conv"] == cfp["conv"] and award["round"] > cfp["round"]
    for m in msgs:  # conversation ids are derived from (sender, tick, seq), never random
        agent, tick, seq = m["conv"].rsplit("-", 2)
        assert tick.isdigit() and seq.isdigit()


def test_an_unknown_or_missing_bidding_policy_is_refused_at_validation():
    from opstwin.scenarios.errors import ScenarioError

    data = copy.deepcopy(CLOUD)
    data["agents"] = {"specialists": [{"name": "s", "skills": ["compute"], "policy": "models/none.zip"},
                                      {"name": "t", "skills": ["storage"], "policy": "greedy"}]}
    with pytest.raises(ScenarioError) as err:
        parse(data)
    text = str(err.value)
    assert "agents.specialists[0].policy: bidding policy model file not found: models/none.zip" in text
    assert "agents.specialists[1].policy: unknown bidding policy 'greedy'" in text


@pytest.mark.parametrize("action,target", [("reset_network", "h2"), ("restart_service", "db"),
                                           ("reboot_host", "h3")])
def test_the_dip_of_an_operators_own_change_raises_no_alert(action, target, tmp_path):
    """A change's own disruption (and its echo in the callers) is the change's, not a new fault's:
    the frames carry a change feed and the monitors hold new alerts for a short grace after it."""
    from opstwin.engine.simulation import Simulation

    sim = Simulation(scenario_with(), seed=2, agents=True, log_path=tmp_path / "incidents.jsonl").start()
    health = []
    while not sim.done:
        sim.step()
        health.append(sim.twin.health)
        if sim.tick == 360:  # 1 h in: well after warm-up
            sim.control.request(action, target, requester="operator")
    summary = sim.finish()
    assert min(health[360:]) < 0.95, "the change did disrupt users"
    assert summary["metrics"]["false_alerts"] == 0
    assert [e["by"] for e in events(tmp_path, "action_started")] == ["operator"]


def test_the_control_day_at_load_noise_0_15_raises_at_most_one_false_alert():
    """Issue 10's bar: noisy load (15% per tick) and noisy telemetry, no fault, a whole day."""
    import yaml
    from pathlib import Path

    data = yaml.safe_load((Path(__file__).resolve().parents[1] / "scenarios" / "control-day.yaml").read_text())
    data["load"]["noise"] = 0.15
    summary = run(parse(data, "control-day.yaml"), seed=1, agents=True)
    assert summary["metrics"]["false_alerts_per_day"] <= 1.0
    assert summary["metrics"]["actions_per_fault"] == 0


@pytest.mark.parametrize("fault", [
    {"type": "crash_loop", "target": "api", "at": "1h", "share": 0.25},  # restarts every few ticks only
    {"type": "config_drift", "target": "auth", "at": "1h", "error_rate": 0.2},  # a quiet-ish service
])
def test_gray_failures_are_found_and_fixed(fault, tmp_path):
    summary = run(scenario_with(fault), seed=4, out=tmp_path, agents=True)
    (row,) = summary["faults"]
    assert row["detected_at"] is not None and row["mitigated"], row


def test_an_alert_carries_the_log_templates_read_with_their_counts(tmp_path):
    """What the monitor's drain3 mined from a failing service reaches the diagnoser (and an LLM's prompt)."""
    run(scenario_with({"type": "certificate_expiry", "target": "auth", "at": "1h"}), seed=1, out=tmp_path, agents=True)
    alerts = [e["body"] for e in events(tmp_path, "msg") if e.get("type") == "alert"]
    carried = [a for a in alerts if a["component"] == "auth" and a["logs"]]
    assert carried, "no alert on auth carried log templates"
    for a in carried:
        assert 1 <= len(a["logs"]) <= 3 and all(isinstance(c, int) and c > 0 for c in a["logs"].values())
    assert any("x509" in text or "certificate" in text for a in carried for text in a["logs"])
    assert all(a["logs"] == {} for a in alerts if a["cleared"])
