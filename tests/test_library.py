"""The scenario library: every file validates, has a header comment, and runs without agents;
together the files use every fault type; faults hurt health (with the file's seed and with
seed 3), the control day stays healthy (seeds 1..5); runs are byte-reproducible."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from opstwin.faults.catalog import CATALOG
from opstwin.cli.main import main
from opstwin.scenarios.loader import load
from opstwin.engine.runner import run
from opstwin.engine.simulation import Simulation


def _h(twin) -> float:
    """Advance one tick; the twin's ground-truth health H then (frames do not carry it)."""
    twin.advance()
    return twin.health

LIBRARY = Path(__file__).resolve().parent.parent / "scenarios"
FILES = sorted([*LIBRARY.glob("*.yaml"), *LIBRARY.glob("*/*.yaml")])  # the library: top level and its folders
NAMES = [f.name for f in FILES]


def test_the_library_has_the_required_scenarios():
    assert len(FILES) >= 10
    scenarios = {f.stem: load(f) for f in FILES}
    assert {"ehr", "trading", "control-day", "storm", "cascade"} <= set(scenarios)
    ehr = {f.type for f in scenarios["ehr"].faults.scheduled}
    assert {"connection_pool_exhaustion", "disk_fill"} <= ehr
    assert [f.type for f in scenarios["trading"].faults.scheduled][0] == "bad_deployment"
    assert scenarios["control-day"].faults.empty and scenarios["control-day"].duration == 86400
    storm = scenarios["storm"]
    assert storm.topology and len(storm.topology.services) >= 100 and storm.faults.random
    assert [f.type for f in scenarios["cascade"].faults.scheduled][0] == "dependency_outage"


def test_every_fault_type_is_scheduled_somewhere():
    used = {f.type for path in FILES for f in load(path).faults.scheduled}
    assert used == set(CATALOG)


@pytest.mark.parametrize("path", FILES, ids=NAMES)
def test_file_has_a_header_comment_saying_what_it_exercises(path):
    text = path.read_text()
    assert text.startswith("#") and "Exercises" in text.split("\nname:")[0]


def test_opstwin_validate_accepts_the_library():
    out = CliRunner().invoke(main, ["validate", str(LIBRARY)])
    assert out.exit_code == 0, out.output
    assert out.output.count(": ok") == len(FILES)


def _health(scenario, seed: int) -> tuple[np.ndarray, list[dict]]:
    r = Simulation(scenario, seed=seed, agents=False).start()
    h = []
    while r.twin.tick_count < scenario.ticks:
        h.append(_h(r.twin))
    return np.array(h), r.faults.ground_truth()


@pytest.mark.parametrize("path", FILES, ids=NAMES)
def test_runs_with_no_agents_and_reports_its_faults(path, tmp_path):
    runner = CliRunner()
    out = runner.invoke(main, ["run", str(path), "--no-agents", "--quiet", "--out", str(tmp_path)])
    assert out.exit_code == 0, out.output
    summary = json.loads((tmp_path / "summary.json").read_text())
    scenario = load(path)
    faults = summary["faults"]
    assert summary["metrics"]["faults_injected"] == len(faults)
    assert summary["metrics"]["faults_resolved"] == sum(f["resolved_at"] is not None for f in faults)
    assert len(faults) >= len(scenario.faults.scheduled)
    for f in faults:
        assert set(f) >= {"id", "type", "category", "target", "target_kind", "start", "fixes", "resolved_at",
                          "resolved_by"}
        assert f["fixes"] and all(len(x) == 2 for x in f["fixes"])
    events = [json.loads(line) for line in (tmp_path / "incidents.jsonl").read_text().splitlines()]
    assert [e["fault_id"] for e in events if e["kind"] == "fault_injected"] == [f["id"] for f in faults]
    if scenario.faults.empty:
        assert summary["health"]["min"] >= 0.98
    else:
        assert faults and summary["health"]["min"] < 0.95


@pytest.mark.parametrize("path", [f for f in FILES if not load(f).faults.empty], ids=lambda p: p.name)
def test_faults_hurt_health_with_seed_3_too(path):
    h, faults = _health(load(path), 3)
    assert faults and h.min() < 0.95
    first = min(f["start"] for f in faults)
    t = np.arange(1, len(h) + 1) * load(path).tick
    assert h[t <= first].min() > 0.98, "healthy before the first fault"


@pytest.mark.parametrize("seed", [2, 3, 4, 5])  # seed 1, the file's own, runs in the test above
def test_control_day_stays_healthy(seed):
    h, faults = _health(load(LIBRARY / "control-day.yaml"), seed)
    assert not faults and h.min() >= 0.98


def test_same_seed_same_bytes_with_random_faults(tmp_path):
    scenario = load(LIBRARY / "webshop-random.yaml")
    assert scenario.faults.random
    scenario = scenario.model_copy(update={"duration": 5 * 3600.0})  # random faults from 1h, several by 5h
    a = run(scenario, out=tmp_path / "a")
    b = run(scenario, out=tmp_path / "b")
    assert (tmp_path / "a" / "incidents.jsonl").read_bytes() == (tmp_path / "b" / "incidents.jsonl").read_bytes()
    assert a["faults"] == b["faults"] and len(a["faults"]) > len(scenario.faults.scheduled)
    c = run(scenario, seed=scenario.seed + 1, out=tmp_path / "c")
    assert c["log_sha256"] != a["log_sha256"]
