"""The injector and the `faults:` section: validation with field paths, ground truth in the
incident log, fixes and expiry, seeded random faults, overlapping faults, the catalog and
`opstwin faults`."""

from __future__ import annotations

import copy
import json

import pytest
import yaml

from opstwin.faults.catalog import CATALOG, describe
from opstwin.faults.spec import FAULT_TYPES, FaultsSpec
from faults_helpers import TOPOLOGY, no_action_failures, rig
from opstwin.cli.main import main
from opstwin.scenarios.errors import ScenarioError
from opstwin.scenarios.loader import parse
from opstwin.engine.runner import run
from opstwin.twin.control import ACTIONS
from opstwin.agents.runbook import SIGNALS
from opstwin.twin.logs import CAUSE_ID

BASE = {"name": "t", "seed": 4, "duration": "2h", "tick": "10s", "topology": TOPOLOGY,
        "load": {"rps": 60, "noise": 0.02}}


def scenario(faults=None, **over):
    data = copy.deepcopy(BASE)
    data.update(over)
    if faults is not None:
        data["faults"] = faults
    return data


def problems(data) -> list[tuple[str, str]]:
    with pytest.raises(ScenarioError) as exc:
        parse(data)
    return [(p.path, p.message) for p in exc.value.problems]


# ----------------------------------------------------------------- validation
def test_a_scenario_without_faults_is_valid():
    assert parse(scenario()).faults.empty
    assert parse(scenario({})).faults.empty
    assert parse(scenario({"scheduled": [], "random": []})).faults.empty


def test_valid_faults_parse_with_units():
    s = parse(scenario({"scheduled": [
        {"type": "disk_fill", "target": "d2", "at": "30m", "rate": "20MB"},
        {"type": "traffic_spike", "target": "web", "at": "1h", "factor": 3, "duration": "10m"},
        {"type": "network_partition", "target": "h1", "peer": "h2", "at": 600},
    ], "random": [{"rate_per_hour": 2, "types": ["memory_leak"], "window": {"start": "10m", "end": "1h"}}]}))
    f = s.faults.scheduled
    assert (f[0].type, f[0].at, f[0].rate) == ("disk_fill", 1800.0, 20e6)
    assert (f[1].duration, f[2].peer) == (600.0, "h2")
    assert s.faults.random[0].window.end == 3600.0


@pytest.mark.parametrize("entry, path, words", [
    ({"type": "meteor_strike", "target": "web", "at": "1h"}, "faults.scheduled[0].type", "unknown fault type"),
    ({"target": "web", "at": "1h"}, "faults.scheduled[0].type", "missing"),
    ({"type": "disk_fill", "target": "x", "at": "1h"}, "faults.scheduled[0].target", "unknown disk 'x'"),
    ({"type": "disk_fill", "target": "web", "at": "1h"}, "faults.scheduled[0].target", "unknown disk 'web'"),
    ({"type": "host_failure", "target": "d1", "at": "1h"}, "faults.scheduled[0].target", "unknown host"),
    ({"type": "memory_leak", "target": "nope", "at": "1h"}, "faults.scheduled[0].target", "unknown service"),
    ({"type": "cpu_saturation", "target": "h1", "at": "1h", "intensity": 1.5}, "faults.scheduled[0].intensity",
     "less than 1"),
    ({"type": "traffic_spike", "target": "web", "at": "1h", "factor": 0.5}, "faults.scheduled[0].factor",
     "greater than 1"),
    ({"type": "config_drift", "target": "api", "at": "1h", "error_rat": 0.2}, "faults.scheduled[0].error_rat",
     "unknown key"),
    ({"type": "network_latency", "target": "h2", "at": "soon"}, "faults.scheduled[0].at", "duration"),
    ({"type": "disk_fill", "target": "d2", "at": "1h", "rate": "1MB", "fill_in": "1h"}, "faults.scheduled[0]",
     "not both"),
    ({"type": "crash_loop", "target": "api", "at": "3h"}, "faults.scheduled[0].at", "after the end of the run"),
    ({"type": "network_partition", "target": "h1", "peer": "h9", "at": "1h"}, "faults.scheduled[0].peer",
     "unknown host"),
    ({"type": "network_partition", "target": "h1", "peer": "h1", "at": "1h"}, "faults.scheduled[0].peer",
     "two different hosts"),
    ({"type": "network_partition", "target": "h1", "peer": "h4", "at": "1h"}, "faults.scheduled[0].peer",
     "cut nothing"),
])
def test_bad_scheduled_faults_are_refused_with_the_field_path(entry, path, words):
    found = problems(scenario({"scheduled": [entry]}))
    assert any(p == path and words in m for p, m in found), found


def test_the_path_names_the_entry():
    good = {"type": "disk_failure", "target": "d1", "at": "1h"}
    later = {**good, "at": "90m"}  # two identical faults at once are an error of their own
    found = problems(scenario({"scheduled": [good, later, {"type": "disk_fill", "target": "x", "at": "1h"}]}))
    assert found == [("faults.scheduled[2].target", "unknown disk 'x'; a disk_fill fault targets a disk")]


@pytest.mark.parametrize("entry, path, words", [
    ({"rate_per_hour": 1, "types": ["nope"]}, "faults.random[0].types[0]", "disk_fill"),
    ({"rate_per_hour": 0, "types": ["disk_fill"]}, "faults.random[0].rate_per_hour", "greater than 0"),
    ({"rate_per_hour": 1, "types": []}, "faults.random[0].types", "at least 1"),
    ({"rate_per_hour": 1, "types": ["disk_fill"], "targets": ["zz"]}, "faults.random[0].targets[0]", "unknown"),
    ({"rate_per_hour": 1, "types": ["disk_fill"], "targets": ["web"]}, "faults.random[0].types[0]",
     "no allowed target"),
    ({"rate_per_hour": 1, "types": ["disk_fill"], "window": {"start": "3h"}}, "faults.random[0].window.start",
     "after the end"),
    ({"rate_per_hour": 1, "types": ["disk_fill"], "window": {"end": "5h"}}, "faults.random[0].window.end",
     "after the end"),
    ({"rate_per_hour": 1, "types": ["disk_fill"], "window": {"start": "1h", "end": "30m"}}, "faults.random[0]",
     "after window.start"),
])
def test_bad_random_faults_are_refused_with_the_field_path(entry, path, words):
    found = problems(scenario({"random": [entry]}))
    assert any(p == path and words in m for p, m in found), found


# --------------------------------------------------------------- ground truth
def test_injection_and_resolution_are_logged_with_ground_truth(monkeypatch):
    no_action_failures(monkeypatch)
    spec = FaultsSpec.model_validate({"scheduled": [
        {"type": "config_drift", "target": "api", "at": "10m"},
        {"type": "disk_failure", "target": "d3", "at": "5m"},
    ]})
    r = rig(faults=spec)
    r.advance(900)
    injected = r.twin.log.of_kind("fault_injected")
    assert [(e["fault_id"], e["type"], e["t"]) for e in injected] == [("f1", "disk_failure", 300.0),
                                                                       ("f2", "config_drift", 600.0)]
    e = injected[1]
    assert (e["category"], e["target"], e["target_kind"]) == ("deploy", "api", "service")
    assert e["fixes"] == [["revert_config", "api"]]
    assert e["params"] == {"duration": None, "error_rate": 0.2, "latency_factor": 1.5}
    ticket = r.request("revert_config", "api")
    r.advance(120)
    gt = {g["id"]: g for g in r.injector.ground_truth()}
    assert gt["f2"]["resolved_by"] == ticket.id and gt["f2"]["resolved_at"] == 960.0
    assert gt["f1"]["resolved_at"] is None and gt["f1"]["fixes"] == [["replace_disk", "d3"]]
    assert set(gt["f1"]) >= {"id", "type", "category", "target", "target_kind", "start", "fixes", "resolved_at",
                             "resolved_by"}
    assert r.injector.metrics() == {"faults_injected": 2, "faults_resolved": 1}


def test_transient_faults_expire_by_themselves():
    r = rig(faults=FaultsSpec.model_validate({"scheduled": [
        {"type": "traffic_spike", "target": "web", "at": "5m", "factor": 5, "duration": "10m", "ramp": 0}]}))
    r.advance(600)
    assert r.health[-1] < 0.9
    r.advance(900)
    (e,) = r.twin.log.of_kind("fault_resolved")
    assert (e["fault_id"], e["by"], e["t"]) == ("f1", "expired", 900.0)
    assert r.health[-1] > 0.99 and not r.twin.effects.active("svc_rate_mult")


def test_a_transient_bad_deployment_is_rolled_back_when_it_expires():
    r = rig()
    r.advance(60)
    r.inject({"type": "bad_deployment", "target": "api", "duration": "5m"})
    assert r.twin.version("api") != "v1"
    r.advance(400)
    assert r.twin.version("api") == "v1"


def test_bad_deployment_names_its_version_and_logs_the_rollout():
    r = rig()
    r.advance(60)
    f = r.inject({"type": "bad_deployment", "target": "api", "version": "v2.0", "rollout": "2m"})
    r.advance(200)
    kinds = [(e["kind"], e.get("version")) for e in r.twin.log.events if e["kind"].startswith("deployment")]
    assert kinds == [("deployment_started", "v2.0"), ("deployment_finished", "v2.0")]
    assert f.ground_truth()["params"]["version"] == "v2.0"


def test_stacked_bad_deployments_need_one_rollback_each(monkeypatch):
    no_action_failures(monkeypatch)
    r = rig()
    r.advance(60)
    f1 = r.inject({"type": "bad_deployment", "target": "api"})
    f2 = r.inject({"type": "bad_deployment", "target": "api"})
    r.request("rollback_deployment", "api")
    r.advance(300)
    assert f1.active and not f2.active
    r.request("rollback_deployment", "api")
    r.advance(300)
    assert not f1.active and r.twin.version("api") == "v1"


def test_overlapping_faults_on_one_service_end_independently(monkeypatch):
    no_action_failures(monkeypatch)
    r = rig()
    r.advance(300)
    h0 = r.mean_health(60)
    drift = r.inject({"type": "config_drift", "target": "api", "error_rate": 0.3})
    cert = r.inject({"type": "certificate_expiry", "target": "api"})
    r.advance(300)
    api = r.twin.topo.index("api")
    r.request("revert_config", "api")
    r.advance(300)
    assert not drift.active and cert.active
    assert r.twin.svc_err_add[api] == 1.0 and r.twin.svc_log[api] == CAUSE_ID["tls"]
    assert r.twin.svc_lat_mult[api] == 1.0  # the drift's part is gone
    r.request("rotate_certificate", "api")
    r.advance(300)
    assert not cert.active and r.mean_health(60) > h0 - 0.01
    for fld in ("svc_err_add", "svc_log", "svc_lat_mult"):
        assert not r.twin.effects.active(fld)


def test_faults_on_dependent_components_at_once(monkeypatch):
    no_action_failures(monkeypatch)
    r = rig()
    r.advance(300)
    h0 = r.mean_health(60)
    leak = r.inject({"type": "memory_leak", "target": "api", "oom_after": "5m"})
    outage = r.inject({"type": "dependency_outage", "target": "db"})
    r.advance(600)
    r.request("restart_service", "db")
    r.advance(120)
    assert not outage.active and leak.active
    r.request("rollback_deployment", "api")  # the leak came with a version: only a rollback ends it
    r.advance(300)
    assert not leak.active and r.mean_health(60) > h0 - 0.01


def test_migrating_away_from_a_noisy_host_mitigates_but_does_not_end_the_fault(monkeypatch):
    no_action_failures(monkeypatch)
    r = rig()
    r.advance(300)
    h0 = r.mean_health(60)
    f = r.inject({"type": "cpu_saturation", "target": "h2", "ramp": 0})
    r.advance(300)
    assert r.mean_health(60) < h0 - 0.05
    r.request("migrate_service", "api", {"host": "h4"})
    r.advance(600)
    assert f.active and r.mean_health(60) > h0 - 0.01
    assert r.lines("cpu_throttled", "api") > 0  # logged while it was there
    api = r.twin.topo.index("api")
    assert r.twin.svc_log[api] == -1  # no longer tagged once moved


# ---------------------------------------------------------------- random
RANDOM = {"random": [
    {"rate_per_hour": 4, "types": list(FAULT_TYPES), "window": {"start": "10m", "end": "100m"}},
    {"rate_per_hour": 3, "types": ["memory_leak", "host_failure"], "targets": ["api", "db", "h3"],
     "duration": "5m"},
]}


def plan(seed: int):
    s = parse(scenario(RANDOM, seed=seed))
    r = rig(faults=s.faults, seed=seed, duration=s.duration)
    return [f.model_dump() for f in r.injector.plan]


def test_random_faults_are_drawn_from_the_seed():
    a, b = plan(5), plan(5)
    assert a == b and len(a) >= 4
    assert plan(6) != a
    for f in a:
        assert f["at"] < 7200
    first = [f for f in a if f["duration"] is None]
    second = [f for f in a if f["duration"] == 300.0]
    assert first and second
    assert all(600 <= f["at"] <= 6000 for f in first)
    assert all(f["type"] in ("memory_leak", "host_failure") and f["target"] in ("api", "db", "h3") for f in second)
    assert [f["at"] for f in a] == sorted(f["at"] for f in a)


def test_random_targets_fit_their_type():
    kinds = {}
    for seed in range(6):
        for f in plan(seed):
            kinds.setdefault(f["type"], set()).add(f["target"])
            if f["type"] == "network_partition":
                assert {f["target"], f["peer"]} in ({"h1", "h2"}, {"h1", "h3"}, {"h2", "h3"})
    assert kinds.get("traffic_spike", {"web"}) == {"web"}  # only entry services
    assert kinds.get("disk_fill", set()) <= {"d1", "d2", "d3"}  # never the unused d4
    assert len(kinds) >= 10


def test_random_faults_are_injected_in_time_order_with_ids():
    s = parse(scenario(RANDOM, seed=5))
    r = rig(faults=s.faults, seed=5, duration=s.duration)
    r.advance(s.duration)
    injected = r.twin.log.of_kind("fault_injected")
    assert [e["fault_id"] for e in injected] == [f"f{i + 1}" for i in range(len(r.injector.plan))]
    assert [e["t"] for e in injected] == [f.at for f in r.injector.plan]


def test_runs_with_random_faults_are_byte_identical(tmp_path):
    s = parse(scenario(RANDOM, seed=8))
    a = run(s, out=tmp_path / "a")
    b = run(s, out=tmp_path / "b")
    c = run(s, seed=9, out=tmp_path / "c")
    assert (tmp_path / "a" / "incidents.jsonl").read_bytes() == (tmp_path / "b" / "incidents.jsonl").read_bytes()
    assert a["log_sha256"] == b["log_sha256"] != c["log_sha256"]
    assert a["faults"] == b["faults"] and a["metrics"]["faults_injected"] == len(a["faults"]) >= 4


def test_summary_lists_faults_and_counts(tmp_path):
    s = parse(scenario({"scheduled": [{"type": "crash_loop", "target": "api", "at": "30m", "duration": "20m"},
                                      {"type": "disk_failure", "target": "d1", "at": "1h"}]}))
    summary = run(s, out=tmp_path)
    on_disk = json.loads((tmp_path / "summary.json").read_text())
    assert on_disk["faults"] == summary["faults"]
    f1, f2 = summary["faults"]
    assert (f1["id"], f1["type"], f1["category"], f1["target"], f1["target_kind"]) == (
        "f1", "crash_loop", "deploy", "api", "service")
    assert (f1["start"], f1["resolved_at"], f1["resolved_by"]) == (1800.0, 3000.0, "expired")
    assert f1["fixes"] == [["revert_config", "api"]] and f2["resolved_at"] is None
    assert summary["metrics"]["faults_injected"] == 2 and summary["metrics"]["faults_resolved"] == 1
    assert summary["health"]["min"] < 0.95


# --------------------------------------------------------------- catalog, CLI
def test_catalog_entries_are_consistent():
    assert len(CATALOG) >= 12 and len({t.category for t in CATALOG.values()}) >= 4
    for t in CATALOG.values():
        assert t.target in ("service", "host", "disk")
        assert t.fixes and all(a in ACTIONS and ACTIONS[a].target == t.target for a in t.fixes), t.name
        for sym in (*t.symptoms, *t.dependant_symptoms):
            if sym.startswith("log:"):
                assert sym[4:] in SIGNALS, (t.name, sym)
        assert t.model.model_fields["type"].default == t.name


def test_opstwin_faults_lists_the_catalog():
    from click.testing import CliRunner

    out = CliRunner().invoke(main, ["faults"], terminal_width=200)
    assert out.exit_code == 0
    for name in CATALOG:
        assert name in out.output
    out = CliRunner().invoke(main, ["faults", "--json"])
    assert out.exit_code == 0
    data = json.loads(out.output)
    assert [d["name"] for d in data] == list(CATALOG)
    by = {d["name"]: d for d in data}
    assert by["disk_fill"]["fixes"] == ["clean_disk"] and "log:disk_full" in by["disk_fill"]["symptoms"]
    assert set(by["cpu_saturation"]["parameters"]["properties"]) == {"duration", "intensity", "ramp"}
    assert by["network_partition"]["parameters"]["required"] == ["peer"]
    assert by == {t.name: describe(t) for t in CATALOG.values()}


def test_schema_describes_the_faults_section():
    from opstwin.scenarios.schema import json_schema

    text = json.dumps(json_schema())
    assert "rate_per_hour" in text and "fill_in" in text and "_UnknownFault" not in text


def test_yaml_flow_entries_as_in_the_docs():
    text = """
    scheduled:
      - {type: disk_fill, target: d2, at: 2h, rate: 20MB}
    random:
      - {rate_per_hour: 1.5, types: [memory_leak, cpu_saturation], targets: [api, h2], window: {start: 1h, end: 5h}}
    """
    spec = FaultsSpec.model_validate(yaml.safe_load(text.replace("\n    ", "\n")))
    assert spec.scheduled[0].rate == 20e6 and spec.random[0].window.start == 3600.0


def test_undoing_the_rollback_that_ended_a_versioned_fault_brings_it_back(monkeypatch):
    no_action_failures(monkeypatch)
    r = rig()
    r.advance(300)
    leak = r.inject({"type": "memory_leak", "target": "api", "oom_after": "5m"})
    r.advance(600)
    ticket = r.request("rollback_deployment", "api")
    r.advance(180)
    assert not leak.active and leak.resolved_by == ticket.id
    assert r.control.undo(ticket.id)  # e.g. the guard, misled by another fault on the same service
    assert leak.active and leak.resolved_at is None
    [reopened] = r.twin.log.of_kind("fault_reopened")
    assert reopened["fault_id"] == leak.id and reopened["by"] == ticket.id
    again = r.request("rollback_deployment", "api")
    r.advance(180)
    assert not leak.active and leak.resolved_by == again.id


def test_undoing_a_fix_that_ends_a_fault_for_good_leaves_it_resolved(monkeypatch):
    no_action_failures(monkeypatch)
    r = rig()
    r.advance(300)
    spike = r.inject({"type": "traffic_spike", "target": "web", "factor": 5})
    r.advance(300)
    ticket = r.request("rate_limit", "web")
    r.advance(60)
    assert not spike.active and r.control.undo(ticket.id)
    assert not spike.active and not r.twin.log.of_kind("fault_reopened")
