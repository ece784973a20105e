"""Every LLM answer is checked before anything acts on it: crafted answers that make up a component, an
evidence id or a fix, or are not JSON, are rejected with their reason; a good one becomes the diagnosis."""

from __future__ import annotations

import json

import pytest

from opstwin.agents.llm.check import check
from opstwin.agents.llm.prompt import ANSWER_SCHEMA, build_case
from opstwin.agents.messages import Alert
from opstwin.agents.reasoners import RulesReasoner, possible
from opstwin.agents.runbook import BY_FAULT
from opstwin.twin.topology import Topology

# db leaks memory; api above it times out
ALERTS = {
    "db": Alert(component="db", kind="service", symptoms=["log:gc", "memory", "memory_growth"], severity=2.0,
                values={"error": 0.01, "memory": 0.93}, host="h2",
                logs={"gc: pause of <NUM> ms, heap <NUM>% full": 7, "app: request <ID> took <NUM> ms": 2}),
    "api": Alert(component="api", kind="service", symptoms=["errors", "log:timeout"], severity=1.0,
                 values={"error": 0.2}, host="h2"),
}


@pytest.fixture
def case(small_topology):
    topo = Topology.build(small_topology)
    group = RulesReasoner(topo).localize(ALERTS)[0]

    def allowed(component, fault):
        return [a for a, _ in BY_FAULT[fault].fixes if possible(topo, a, component)]

    return build_case(topo, group.covers, ALERTS, set(), allowed)


def answer(**changes) -> str:
    good = {"root_causes": [{"component": "db", "fault": "memory_leak", "confidence": 0.8}],
            "evidence": ["e1", "e2"], "fix": {"action": "rollback_deployment", "component": "db"},
            "explanation": "db memory grows with GC pressure: a leak."}
    return json.dumps({**good, **changes})


def test_the_prompt_carries_evidence_with_ids_and_the_allowed_candidates(case):
    prompt = case.prompt()
    assert "e1: api (service) shows errors" in prompt
    assert "db (service) shows memory_growth" in prompt
    assert "db logged 7 lines like: gc: pause of <NUM> ms, heap <NUM>% full" in prompt  # most read first
    assert prompt.index("db logged 7") < prompt.index("db logged 2 lines like: app: request")
    assert "- db [service]\n" in prompt and "memory_leak -> rollback_deployment, restart_service" in prompt
    assert "- h2 [host]" in prompt  # the host under the alerting services is a candidate too
    assert case.prompt() == prompt  # same alerts, same prompt
    assert ANSWER_SCHEMA["required"] == ["root_causes", "evidence", "fix", "explanation"]
    assert "$defs" not in json.dumps(ANSWER_SCHEMA)


def test_a_good_answer_passes(case):
    verdict = check(answer(), case)
    assert verdict.ok and verdict.answer.root_causes[0].component == "db"


@pytest.mark.parametrize("text, reason", [
    (answer(root_causes=[{"component": "payments", "fault": "memory_leak", "confidence": 0.9}]),
     "root cause 'payments' is not a candidate"),
    (answer(root_causes=[{"component": "db", "fault": "disk_fill", "confidence": 0.9}]),
     "root cause db cannot have fault disk_fill"),
    (answer(evidence=["e1", "e99"]), "evidence id 'e99' does not exist"),
    (answer(fix={"action": "reboot_host", "component": "db"}),
     "fix reboot_host on db is not allowed for db memory_leak (allowed: rollback_deployment, restart_service)"),
    (answer(fix={"action": "restart_service", "component": "api"}), "fix restart_service on api is not allowed"),
    ("The root cause is db, a memory leak.", "not JSON"),
    (answer(fix={"action": "delete_everything", "component": "db"}), "does not fit the schema: fix.action"),
    (json.dumps({"root_causes": []}), "does not fit the schema: root_causes"),
    (answer(root_causes=[{"component": "db", "fault": "memory_leak", "confidence": 7}]),
     "does not fit the schema: root_causes.0.confidence"),
])
def test_a_bad_answer_is_rejected_with_its_reason(case, text, reason):
    verdict = check(text, case)
    assert not verdict.ok and verdict.reason.startswith(reason), verdict.reason


def test_a_fix_already_tried_is_not_allowed(small_topology):
    topo = Topology.build(small_topology)
    tried = {("rollback_deployment", "db")}

    def allowed(component, fault):
        return [a for a, _ in BY_FAULT[fault].fixes if (a, component) not in tried]

    case = build_case(topo, {"db", "api"}, ALERTS, tried, allowed)
    assert "Already tried without success (do not propose again): rollback_deployment on db" in case.prompt()
    assert "- db [service] (memory_leak: only restart_service; crash_loop: only revert_config; bad_deployment: no fix left)" in case.prompt()
    assert check(answer(), case).reason.startswith("fix rollback_deployment on db is not allowed")
