"""Standing baselines: they act without diagnosing, and the metrics show what that costs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from opstwin.engine.runner import run
from opstwin.scenarios.errors import ScenarioError
from opstwin.scenarios.loader import parse

EHR = Path(__file__).resolve().parents[1] / "scenarios" / "ehr.yaml"


def ehr(baseline: str | None) -> dict:
    data = yaml.safe_load(EHR.read_text())
    if baseline:
        data.setdefault("agents", {})["baseline"] = baseline
    return run(parse(data, "ehr.yaml"), seed=1, agents=True)


@pytest.fixture(scope="module")
def results() -> dict[str, dict]:
    return {b or "team": ehr(b) for b in (None, "shotgun", "random")}


def test_baselines_never_diagnose_and_spend_many_more_actions(results):
    team = results["team"]["metrics"]
    for name in ("shotgun", "random"):
        m = results[name]["metrics"]
        assert m["rca_ac1"] == 0.0 and m["rca_type_ac1"] == 0.0 and m["incidents"] == 0
        # a shotgun always pays for every fix it knows; one random draw may be lucky on one seed
        assert m["actions_per_fault"] >= (5 if name == "shotgun" else 2) * team["actions_per_fault"]
        assert m["harmful_actions"] > team["harmful_actions"]


def test_a_baseline_run_is_reproducible(results):
    assert ehr("random")["log_sha256"] == results["random"]["log_sha256"]


def test_an_unknown_baseline_is_refused_with_its_field():
    data = yaml.safe_load(EHR.read_text())
    data.setdefault("agents", {})["baseline"] = "dartboard"
    with pytest.raises(ScenarioError) as exc:
        parse(data, "ehr.yaml")
    assert any(p.path == "agents.baseline" for p in exc.value.problems)


def _alert_symptoms(log_path: Path) -> set[str]:
    import json

    out: set[str] = set()
    for line in log_path.read_text().splitlines():
        e = json.loads(line)
        if e["kind"] == "msg" and e["type"] == "alert":
            out.update(e["body"]["symptoms"])
    return out


def test_the_no_logs_ablation_removes_every_log_symptom(tmp_path):
    data = yaml.safe_load(EHR.read_text())
    with_logs = run(parse(data, "ehr.yaml"), seed=1, agents=True, out=tmp_path / "team")
    data.setdefault("agents", {}).setdefault("monitor", {})["logs"] = False
    without = run(parse(data, "ehr.yaml"), seed=1, agents=True, out=tmp_path / "no-logs")
    seen, blind = _alert_symptoms(tmp_path / "team" / "incidents.jsonl"), _alert_symptoms(
        tmp_path / "no-logs" / "incidents.jsonl")
    assert any(s.startswith("log:") for s in seen)
    assert blind and not any(s.startswith("log") for s in blind)  # neither signals nor the volume flag `logs`
    assert without["log_sha256"] != with_logs["log_sha256"]


def test_the_gate_never_gates_the_reference_teams():
    from opstwin.evaluation import gate

    def record(variant: str, mitigation: float) -> dict:
        return {"variant": variant, "scenario": "ehr", "seed": 1, "status": "ok",
                "metrics": {"mitigation_success_rate": mitigation}}

    results = {"scenarios": ["ehr"], "seeds": [1], "variants": ["baseline", *gate.REFERENCES],
               "runs": [record("baseline", 1.0), *(record(v, 0.1) for v in gate.REFERENCES)]}
    baseline = {"seeds": [1], "overall": {"mitigation_success_rate": 1.0},
                "per_scenario": {"ehr": {"mitigation_success_rate": 1.0}}}
    findings, _ = gate.check(results, baseline)
    assert findings == []
    results["runs"][0] = record("baseline", 0.1)
    findings, _ = gate.check(results, baseline)
    assert findings and {f.variant for f in findings} == {"baseline"}
