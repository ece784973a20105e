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
