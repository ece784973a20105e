"""opstwin eval --write-baseline / --check: the regression gate, and variant/tolerance input errors."""

from __future__ import annotations

import json

import pytest
from eval_helpers import SLOW, opstwin, write_tiny

from opstwin.evaluation import gate


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gate")
    write_tiny(folder)
    res = opstwin(folder, "eval", "tiny.yaml", "--seeds", 2, "--out", "out", "-q", "--write-baseline", "base.json")
    assert res.exit_code == 0, res.output
    return folder


def test_baseline_file_holds_gated_means(baseline):
    data = json.loads((baseline / "base.json").read_text())
    assert data["opstwin_baseline"] == 1 and data["seeds"] == [1, 2] and data["scenarios"] == ["tiny"]
    assert set(data["overall"]) == set(gate.RULES)
    assert "wall_seconds" not in data["overall"] and "speedup" not in data["overall"]
    runs = json.loads((baseline / "out/results.json").read_text())["runs"]
    assert data["per_scenario"]["tiny"]["ttd_mean_s"] == pytest.approx(
        sum(r["metrics"]["ttd_mean_s"] for r in runs) / 2)


def test_check_passes_on_the_same_team(baseline):
    res = opstwin(baseline, "eval", "tiny.yaml", "--seeds", 2, "--out", "again", "-q", "--check", "base.json")
    assert res.exit_code == 0, res.output
    assert "gate passed" in res.output
    assert "## Regression gate" in (baseline / "again/report.md").read_text()


def test_check_fails_naming_the_metric_of_a_weakened_variant(baseline):
    res = opstwin(baseline, "eval", "tiny.yaml", "--seeds", 2, "--variant", SLOW, "--out", "weak", "-q",
                  "--check", "base.json")
    assert res.exit_code == 1, res.output
    assert "regression: variant slow, overall: ttd_mean_s" in res.output
    assert "gate FAILED" in res.output and "ttd_mean_s" in res.output.splitlines()[-1]
    assert "variant baseline" not in res.output  # the unchanged team still passes
    assert "REGRESSION variant slow" in (baseline / "weak/report.md").read_text()


def test_tolerance_can_let_it_pass(baseline):
    res = opstwin(baseline, "eval", "tiny.yaml", "--seeds", 2, "--variant", SLOW, "--out", "weak2", "-q",
                  "--check", "base.json", "--tolerance", "100", "--tolerance", "escalations=0.5")
    assert res.exit_code == 0, res.output


def test_check_unit_directions_and_tolerances():
    results = {"scenarios": ["a"], "seeds": [1], "variants": {"baseline": [], "v": []}, "runs": [
        {"variant": "baseline", "scenario": "a", "seed": 1, "status": "ok",
         "metrics": {"detection_recall": 1.0, "ttm_mean_s": 100.0, "false_alerts_per_day": 0.0}},
        {"variant": "v", "scenario": "a", "seed": 1, "status": "ok",
         "metrics": {"detection_recall": 0.97, "ttm_mean_s": 200.0, "false_alerts_per_day": 3.0}}]}
    base = {"seeds": [1], "overall": {"detection_recall": 1.0, "ttm_mean_s": 100.0, "false_alerts_per_day": 0.0,
                                      "rca_ac1": None},
            "per_scenario": {"a": {"detection_recall": 1.0, "ttm_mean_s": 100.0, "false_alerts_per_day": 0.0}}}
    findings, _ = gate.check(results, base)
    assert {(f.variant, f.scope, f.metric) for f in findings} == {
        ("v", "overall", "ttm_mean_s"), ("v", "a", "ttm_mean_s"),
        ("v", "overall", "false_alerts_per_day"), ("v", "a", "false_alerts_per_day")}  # recall -0.03 is within 0.05
    findings, _ = gate.check(results, base, gate.parse_tolerances(["ttm_mean_s=1.5", "false_alerts_per_day=5"]))
    assert findings == []
    findings, _ = gate.check(results, base, gate.parse_tolerances(["detection_recall=0.01", "ttm_mean_s=2"]))
    assert {f.metric for f in findings} == {"detection_recall", "false_alerts_per_day"}
    assert "detection_recall 0.970 < 0.990" in str(findings[0]) + str(findings[1]) + str(findings[2:])


@pytest.mark.parametrize("args, message", [
    (["--variant", "thr=agents.monitor.detector=nope"], "agents.monitor.detector"),
    (["--variant", "x=agents.monitr.detector=threshold"], "agents.monitr: unknown key"),
    (["--variant", "x=duration.sub=1"], "duration is a value"),
    (["--variant", "baseline=duration=1h"], "reserved"),
    (["--variant", "novalue"], "expected name=key.path=value"),
    (["--tolerance", "ttx=0.1"], "unknown gated metric 'ttx'"),
    (["--tolerance", "lots"], "bad tolerance"),
    (["--check", "missing.json"], "cannot read baseline"),
    (["--transport", "carrier-pigeon"], "transport 'carrier-pigeon'"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, args, message):
    write_tiny(tmp_path)
    res = opstwin(tmp_path, "eval", "tiny.yaml", "--seeds", 1, "--out", "out", "-q", *args)
    assert res.exit_code == 2, res.output
    assert message in res.output and len(res.output.strip().splitlines()) == 1
    assert "Traceback" not in res.output and not (tmp_path / "out").exists()
