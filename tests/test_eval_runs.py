"""opstwin eval: results.json/csv, report.md with CIs, figures, variants, --jobs, failed and interrupted runs."""

from __future__ import annotations

import csv
import json
import re

import pytest

from opstwin.evaluation import report
from eval_helpers import SLOW, opstwin, stable_runs, write_tiny


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """One eval of the tiny scenario: seeds 1-2, baseline and a slow-alerting variant, one process."""
    folder = tmp_path_factory.mktemp("eval")
    write_tiny(folder)
    res = opstwin(folder, "eval", "tiny.yaml", "--seeds", 2, "--variant", SLOW, "--out", "out", "-q",
                  "--write-baseline", "base.json")
    assert res.exit_code == 0, res.output
    return folder, res


def test_results_json_has_every_run(evaluated):
    folder, _ = evaluated
    data = json.loads((folder / "out/results.json").read_text())
    assert data["complete"] is True and data["runs_planned"] == data["runs_finished"] == 4
    assert data["variants"] == {"baseline": [], "slow": ["agents.monitor.persistence=60"]}
    assert [(r["variant"], r["scenario"], r["seed"]) for r in data["runs"]] == [
        ("baseline", "tiny", 1), ("baseline", "tiny", 2), ("slow", "tiny", 1), ("slow", "tiny", 2)]
    for r in data["runs"]:
        assert r["status"] == "ok" and re.fullmatch(r"[0-9a-f]{64}", r["log_sha256"])
        assert {"detection_f1", "rca_ac1", "ttm_mean_s", "faults_injected"} <= set(r["metrics"])
        assert r["wall_seconds"] > 0 and r["speedup"] > 0
        run_dir = folder / "out/runs" / r["variant"] / f"tiny-{r['seed']}"
        assert {"incidents.jsonl", "summary.json", "health.csv"} <= {p.name for p in run_dir.iterdir()}
        assert json.loads((run_dir / "summary.json").read_text())["log_sha256"] == r["log_sha256"]
        (fault,) = r["faults"]
        assert fault["type"] == "connection_pool_exhaustion" and fault["start"] == 3000.0
        assert {"rca_ac1", "rca_ac3", "rca_type_ac1", "rca_type_ac3", "mitigated"} <= set(fault)
        assert fault["rca_type_ac1"] == r["metrics"]["rca_type_ac1"]  # one fault: the run's figure is its row's
    # the variant changed the team: other logs, later detection
    base, slow = data["runs"][0], data["runs"][2]
    assert base["log_sha256"] != slow["log_sha256"]
    assert slow["metrics"]["ttd_mean_s"] > base["metrics"]["ttd_mean_s"]
    # results.jsonl: the same runs, one line each, as they finished
    lines = (folder / "out/results.jsonl").read_text().splitlines()
    assert len(lines) == 4


def test_results_csv_one_row_per_run(evaluated):
    folder, _ = evaluated
    rows = list(csv.DictReader((folder / "out/results.csv").open()))
    runs = json.loads((folder / "out/results.json").read_text())["runs"]
    assert len(rows) == 4
    assert list(rows[0])[:5] == ["scenario", "seed", "variant", "status", "log_sha256"]
    for row, r in zip(rows, runs):
        assert row["log_sha256"] == r["log_sha256"] and row["variant"] == r["variant"]
        assert float(row["ttd_mean_s"]) == r["metrics"]["ttd_mean_s"]
        assert set(report.METRICS) <= set(row)


def test_report_sections_and_confidence_intervals(evaluated):
    folder, _ = evaluated
    text = (folder / "out/report.md").read_text()
    for heading in ("# opstwin eval report", "## Overall", "## Per scenario", "### tiny",
                    "## Performance (machine-dependent, not gated)", "## Figures", "## Definitions"):
        assert heading in text
    assert "opstwin eval tiny.yaml --seeds 2 --variant slow=agents.monitor.persistence=60 --out out" in text
    overall = text.split("## Overall")[1].split("## Per scenario")[0]
    assert "| metric | baseline | slow |" in overall
    for metric in report.METRICS:
        assert f"| {metric} |" in overall
    runs = json.loads((folder / "out/results.json").read_text())["runs"]
    ttd = [r["metrics"]["ttd_mean_s"] for r in runs if r["variant"] == "baseline"]
    row = next(line for line in overall.splitlines() if line.startswith("| ttd_mean_s |"))
    if ttd[0] != ttd[1]:  # a CI [lo, hi] within the values, around their mean
        m = re.search(r"\| ([\d.,]+) \[([\d.,]+), ([\d.,]+)\]", row)
        mean, lo, hi = (float(x.replace(",", "")) for x in m.groups())
        assert min(ttd) <= lo <= mean <= hi <= max(ttd)
        assert mean == pytest.approx(sum(ttd) / 2, abs=0.05)


def test_figures_are_pngs(evaluated):
    folder, _ = evaluated
    for name in ("timeline-tiny.png", "ttm-by-variant.png", "detection-delay.png"):
        data = (folder / "out" / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
        assert f"]({name})" in (folder / "out/report.md").read_text()


def test_bootstrap_is_seeded_and_brackets_the_mean():
    xs = [1.0, 2.0, 4.0, 8.0, 3.0]
    a, b = report.bootstrap(xs, "k"), report.bootstrap(xs, "k")
    assert a == b and a.lo <= a.mean <= a.hi and a.n == 5
    assert report.bootstrap([None, 2.0], "k") == report.Stat(2.0, 2.0, 2.0, 1)
    assert report.bootstrap([None], "k").mean is None


def test_undefined_metrics_aggregate_over_defined_runs():
    recs = [{"variant": "baseline", "scenario": s, "seed": 1, "status": "ok", "metrics": {"rca_ac1": v}}
            for s, v in (("a", 1.0), ("b", None), ("c", 0.5))]
    stat = report.aggregate(recs, ["rca_ac1"])["baseline"]["overall"]["rca_ac1"]
    assert stat.mean == 0.75 and stat.n == 2


@pytest.mark.slow
def test_jobs_2_gives_the_same_results_as_jobs_1(evaluated):
    folder, _ = evaluated
    res = opstwin(folder, "eval", "tiny.yaml", "--seeds", 2, "--variant", SLOW, "--out", "out2", "--jobs", 2, "-q")
    assert res.exit_code == 0, res.output
    assert stable_runs(folder / "out2/results.json") == stable_runs(folder / "out/results.json")

    def quality(path):  # the report up to the machine-dependent section
        return path.read_text().split("## Overall")[1].split("## Performance")[0]

    assert quality(folder / "out2/report.md") == quality(folder / "out/report.md")


def test_a_run_that_raises_is_recorded_and_the_others_kept(tmp_path, monkeypatch):
    from opstwin.engine import runner

    real = runner.execute

    def flaky(scenario, *, seed=None, **kw):
        if seed == 2:
            raise RuntimeError("boom in seed 2")
        return real(scenario, seed=seed, **kw)

    monkeypatch.setattr(runner, "execute", flaky)
    write_tiny(tmp_path)
    res = opstwin(tmp_path, "eval", "tiny.yaml", "--seeds", 3, "--out", "out", "-q")
    assert res.exit_code == 1
    assert "run failed: baseline tiny seed 2: RuntimeError: boom in seed 2" in res.output
    data = json.loads((tmp_path / "out/results.json").read_text())
    assert [r["status"] for r in data["runs"]] == ["ok", "error", "ok"]
    assert "## Failed runs" in (tmp_path / "out/report.md").read_text()
    rows = list(csv.DictReader((tmp_path / "out/results.csv").open()))
    assert rows[1]["status"] == "error" and "boom" in rows[1]["error"]


def test_an_interrupted_eval_keeps_what_finished(tmp_path, monkeypatch):
    from opstwin.engine import runner

    real = runner.execute

    def interrupted(scenario, *, seed=None, **kw):
        if seed == 3:
            raise KeyboardInterrupt
        return real(scenario, seed=seed, **kw)

    monkeypatch.setattr(runner, "execute", interrupted)
    write_tiny(tmp_path)
    res = opstwin(tmp_path, "eval", "tiny.yaml", "--seeds", 4, "--out", "out", "-q", "--write-baseline", "b.json")
    assert res.exit_code == 130
    assert "interrupted: kept the 2 finished runs of 4" in res.output
    assert "not writing baseline" in res.output and not (tmp_path / "b.json").exists()
    data = json.loads((tmp_path / "out/results.json").read_text())
    assert data["interrupted"] is True and data["complete"] is False
    assert [r["seed"] for r in data["runs"]] == [1, 2]
    assert "**Incomplete: 2 of 4 runs finished**" in (tmp_path / "out/report.md").read_text()
    assert len((tmp_path / "out/results.jsonl").read_text().splitlines()) == 2
