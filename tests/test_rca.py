"""RCA interop: recorded series, RCAEval cases that RCAEval's own readers load, and scores of the
real packages (fse-baro, RCAEval) beside the team's diagnosis. One short run serves every test."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from opstwin.engine import runner
from opstwin.engine.series import load as load_series
from opstwin.scenarios.loader import load
from eval_helpers import opstwin

TWO_FAULTS = """\
name: rcatiny
duration: 100m
tick: 10s
topology:
  hosts:
    - {name: h1, cpu: 16, disks: [{name: d1, size: 100GB, used: 10GB}]}
    - {name: h2, cpu: 16, disks: [{name: d2, size: 100GB, used: 10GB}]}
  services:
    - {name: web, host: h1, entry: true, replicas: 2, capacity: 100, latency: 20ms, slo: 500ms, disk: d1,
       depends_on: [api]}
    - {name: api, host: h2, replicas: 2, capacity: 200, latency: 10ms, disk: d2, depends_on: [db]}
    - {name: db, host: h2, replicas: 1, capacity: 500, latency: 5ms, disk: d2}
load:
  rps: 60
  noise: 0.03
faults:
  scheduled:
    - {type: connection_pool_exhaustion, target: api, at: 45m, error_rate: 0.6, wait: 2s, ramp: 5m}
    - {type: memory_leak, target: web, at: 75m, oom_after: 10m}
agents:
  warmup: 30m
"""


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> dict:
    """The scenario run twice with the team (inproc): plainly, and recording its series."""
    root = tmp_path_factory.mktemp("rca")
    (root / "rcatiny.yaml").write_text(TWO_FAULTS)
    scenario = load(root / "rcatiny.yaml")
    plain = runner.run(scenario, seed=3, out=root / "plain", agents=True)
    rec = runner.run(scenario, seed=3, out=root / "run", agents=True, record_series=True)
    return {"root": root, "plain": plain, "summary": rec, "run": root / "run"}


@pytest.fixture(scope="module")
def cases(recorded) -> Path:
    out = recorded["root"] / "cases"
    result = opstwin(recorded["root"], "rca", "export", recorded["run"], "--out", out, "--before", "10m",
                     "--after", "5m")
    assert result.exit_code == 0, result.output
    return out


def test_recording_leaves_the_incident_log_unchanged(recorded):
    assert recorded["summary"]["log_sha256"] == recorded["plain"]["log_sha256"]
    assert not (recorded["root"] / "plain" / "series.npz").exists()  # off by default
    series = load_series(recorded["run"])
    ticks = recorded["summary"]["ticks"]
    assert series.services == ["web", "api", "db"] and series.hosts == ["h1", "h2"]
    assert series.columns["p99"].shape == (ticks, 3) and series.columns["disk_used"].shape == (ticks, 2)
    assert series.columns["p99"].dtype == np.float32
    web_mem = series.columns["memory"][:, 0]
    leak = int(75 * 60 / 10)
    assert web_mem[leak:leak + 60].max() > web_mem[leak - 60:leak].max() + 0.02  # the leak is in the telemetry


def test_cases_load_with_rcaevals_own_readers(recorded, cases):
    from RCAEval.utility import read_logs, read_metrics

    names = json.loads((cases / "export.json").read_text())["cases"]
    assert names == ["rcatiny-3-01", "rcatiny-3-02"]
    series = load_series(recorded["run"])
    for name in names:
        case = cases / name
        df = read_metrics(str(case))
        truth = json.loads((case / "case.json").read_text())
        inject = int((case / "inject_time.txt").read_text())
        # the first sample made after the fault took effect (a frame stamped at its start is from before)
        first = series.t[series.t > truth["start_s"]][0]
        assert inject == truth["inject_time"] and inject == series.epoch + int(first)
        assert len(df) == 60 + 30 and not df.isna().any().any()  # 10 min before, 5 after, at 10 s ticks
        assert (df["time"] < inject).sum() == 60 + (first - truth["start_s"] >= 10)
        assert {"web_cpu", "web_mem", "api_latency-50", "api_latency-90", "api_latency-99", "api_error",
                "db_workload", "h2_cpu", "h2_rtt", "d1_usage", "d1_io-errors"} <= set(df.columns)
        k = int(np.searchsorted(series.t, truth["start_s"] - 600))
        np.testing.assert_allclose(df["api_latency-99"].to_numpy(), series.columns["p99"][k:k + 90, 1], rtol=1e-5)
        lat = df[["api_latency-50", "api_latency-90", "api_latency-99"]].to_numpy()
        assert (lat[:, 0] <= lat[:, 1] + 1e-9).all() and (lat[:, 1] <= lat[:, 2] + 1e-9).all()
        logs = read_logs(str(case))
        assert logs is not None and list(logs.columns) == ["time", "container_name", "message"]
        assert set(logs["container_name"]) <= {"web", "api", "db"}


def test_nothing_outside_case_json_names_the_fault(recorded, cases):
    faults = recorded["summary"]["faults"]
    words = {w for f in faults for w in (f["type"], f["type"].replace("_", " "), f["category"])}
    ids = {f["id"] for f in faults}
    for case in sorted(p for p in cases.iterdir() if p.is_dir()):
        truth = json.loads((case / "case.json").read_text())
        assert truth["fault"] in words and truth["fault_id"] in ids
        assert not any(w in case.name for w in words | ids)
        for f in case.iterdir():
            if f.name != "case.json":
                text = f.read_text().lower()
                assert not any(w in text for w in words), (f, words)
                assert f'"{truth["fault_id"]}"' not in text
    index = (cases / "export.json").read_text()
    assert not any(w in index for w in words)


def test_score_the_packages_and_the_team(recorded, cases):
    result = opstwin(recorded["root"], "rca", "score", cases, "--methods", "baro,nsigma,circa,team", "-q")
    assert result.exit_code == 0, result.output
    rows = {(r["method"], r["case"]): r for r in map(json.loads, (cases / "rca_ranks.jsonl").read_text().splitlines())}
    assert len(rows) == 8
    for name in ("baro", "nsigma"):
        for case in ("rcatiny-3-01", "rcatiny-3-02"):
            assert rows[(name, case)]["error"] is None and "_" in rows[(name, case)]["ranks"][0]
    # the team's figure is the run's own rca_ac1, fault by fault
    team = [rows[("team", f"rcatiny-3-0{i}")]["service"][0] for i in (1, 2)]
    assert team == [bool(f["rca_ac1"]) for f in recorded["summary"]["faults"]]
    csv_text = (cases / "rca_scores.csv").read_text().splitlines()
    assert csv_text[0].startswith("method,level,fault,cases,failed,ac1,ac1_lo,ac1_hi")
    assert any(line.startswith("circa,service,overall,2,") for line in csv_text)
    assert any(line.startswith("baro,indicator,memory_leak,1,") for line in csv_text)
    assert not any(line.startswith("team,indicator") for line in csv_text)
    report = (cases / "rca_report.md").read_text()
    assert "| overall | team | 2 |" in report and "Avg@5" in report


def test_fse_baro_and_rcaevals_baro_agree(cases):
    from opstwin.rca.methods import rank

    for case in ("rcatiny-3-01", "rcatiny-3-02"):
        assert rank("baro", cases / case) == rank("rcaeval-baro", cases / case)


def test_export_from_an_eval_folder(tmp_path):
    (tmp_path / "rcatiny.yaml").write_text(TWO_FAULTS.replace("duration: 100m", "duration: 60m")
                                           .replace("    - {type: memory_leak, target: web, at: 75m, oom_after: 10m}\n", ""))
    res = opstwin(tmp_path, "eval", "rcatiny.yaml", "--seeds", "1", "--record-series", "-q", "--out", "ev")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "ev" / "runs" / "baseline" / "rcatiny-1" / "series.npz").is_file()
    res = opstwin(tmp_path, "rca", "export", "ev", "--out", "cases")
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "cases" / "rcatiny-1-01" / "case.json").read_text())["variant"] == "baseline"
    res = opstwin(tmp_path, "rca", "export", "ev", "--out", "c2", "--variant", "nope")
    assert res.exit_code == 2 and "no runs of variant 'nope'" in res.output and "Traceback" not in res.output


def test_an_eval_made_without_recording_is_replayed_into_the_same_cases(tmp_path):
    """Series are off by default; export replays each run (same scenario, seed, variant: the same run,
    checked by its log_sha256) and writes the cases a recorded eval gives."""
    (tmp_path / "rcatiny.yaml").write_text(TWO_FAULTS.replace("duration: 100m", "duration: 60m")
                                           .replace("    - {type: memory_leak, target: web, at: 75m, oom_after: 10m}\n", ""))
    for name, flags in (("rec", ["--record-series"]), ("plain", [])):
        res = opstwin(tmp_path, "eval", "rcatiny.yaml", "--seeds", "1", *flags, "-q", "--out", name)
        assert res.exit_code == 0, res.output
        res = opstwin(tmp_path, "rca", "export", name, "--out", f"cases-{name}")
        assert res.exit_code == 0, res.output
    assert not (tmp_path / "plain" / "runs" / "baseline" / "rcatiny-1" / "series.npz").exists()
    for f in ("metrics.json", "inject_time.txt", "logs.csv"):
        assert ((tmp_path / "cases-plain" / "rcatiny-1-01" / f).read_bytes()
                == (tmp_path / "cases-rec" / "rcatiny-1-01" / f).read_bytes()), f


@pytest.mark.parametrize("args, message", [
    (["rca", "export", "missing", "--out", "x"], "missing: no such folder"),
    (["rca", "export", "plain", "--out", "x"], "no recorded series (series.npz) and 'rcatiny' is not a library"),
    (["rca", "export", "run", "--out", "x", "--before", "-5m"], "--before"),
    (["rca", "score", "missing"], "missing: no such folder"),
    (["rca", "score", "run"], "no cases (folders with case.json)"),
    (["rca", "score", "cases", "--methods", "baro,rcd"], "unknown method 'rcd'"),
])
def test_bad_input_is_one_line(recorded, cases, args, message):
    result = opstwin(recorded["root"], *args)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not (recorded["root"] / "x").exists()


@pytest.mark.slow
def test_jobs_give_the_same_ranks(recorded, cases, tmp_path):
    import shutil

    for jobs in ("1", "2"):
        copy = tmp_path / f"j{jobs}"
        shutil.copytree(cases, copy)
        res = opstwin(tmp_path, "rca", "score", copy, "--jobs", jobs, "-q")
        assert res.exit_code == 0, res.output
    assert (tmp_path / "j1" / "rca_ranks.jsonl").read_text() == (tmp_path / "j2" / "rca_ranks.jsonl").read_text()
    assert (tmp_path / "j1" / "rca_scores.csv").read_text() == (tmp_path / "j2" / "rca_scores.csv").read_text()


def test_the_root_of_a_host_or_disk_fault_holds_the_services_placed_on_it(recorded):
    from opstwin.rca.export import _placed

    series = load_series(recorded["run"])
    assert _placed({"target": "h2", "target_kind": "host"}, series, 0) == ["api", "db"]
    assert _placed({"target": "h1", "target_kind": "host", "params": {"peer": "h2"}}, series, 0) == ["web", "api", "db"]
    assert _placed({"target": "d1", "target_kind": "disk"}, series, 0) == ["web"]
    assert _placed({"target": "api", "target_kind": "service"}, series, 0) == []


def test_a_run_without_recording_removes_an_earlier_runs_series(recorded, tmp_path):
    """Series left in the folder by an earlier run would pass for this run's in an export."""
    scenario = load(recorded["root"] / "rcatiny.yaml")
    runner.run(scenario, seed=3, out=tmp_path / "r", record_series=True)
    assert (tmp_path / "r" / "series.npz").is_file()
    runner.run(scenario, seed=4, out=tmp_path / "r")
    assert not (tmp_path / "r" / "series.npz").exists() and not (tmp_path / "r" / "logs.csv.gz").exists()


def test_score_reads_only_the_cases_of_the_last_export(recorded, cases, tmp_path):
    import shutil

    copy = tmp_path / "cases"
    shutil.copytree(cases, copy)
    shutil.copytree(copy / "rcatiny-3-01", copy / "old-case")  # left by an earlier export into the folder
    res = opstwin(tmp_path, "rca", "score", copy, "--methods", "team", "-q")
    assert res.exit_code == 0, res.output
    scored = {json.loads(line)["case"] for line in (copy / "rca_ranks.jsonl").read_text().splitlines()}
    assert scored == {"rcatiny-3-01", "rcatiny-3-02"}
