"""The run engine: a library scenario stepped tick by tick is the same run as `opstwin run`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from opstwin.engine.runner import execute, run
from opstwin.engine.simulation import Simulation
from opstwin.scenarios.loader import load

LIBRARY = Path(__file__).resolve().parents[1] / "scenarios"
OPSTWIN = str(Path(sys.executable).with_name("opstwin"))


def test_stepping_a_library_scenario_gives_the_same_log_as_opstwin_run(tmp_path):
    scenario = load(LIBRARY / "ehr.yaml")
    sim = Simulation(scenario, seed=1)
    sim.start()
    ticks = 0
    while not sim.done:
        frame = sim.step()
        ticks += 1
        assert frame.tick == ticks == sim.tick
    summary = sim.finish()
    assert ticks == scenario.ticks and summary["completed"]

    cli = subprocess.run([OPSTWIN, "run", str(LIBRARY / "ehr.yaml"), "--seed", "1", "--transport", "inproc",
                          "--quiet", "--out", str(tmp_path / "cli")], capture_output=True, text=True, timeout=300)
    assert cli.returncode == 0, cli.stderr
    written = json.loads((tmp_path / "cli" / "summary.json").read_text())
    assert written["log_sha256"] == summary["log_sha256"]
    assert written["metrics"] == summary["metrics"]


def test_hooks_watch_without_changing_the_run(small_scenario):
    scenario = load(small_scenario)
    plain = run(scenario, seed=3, agents=True)
    sim = Simulation(scenario, seed=3)
    frames, events = [], []
    sim.on_frame(lambda s, f: frames.append((s.tick, f.t)))
    sim.on_event(events.append)
    summary = sim.run()
    assert summary["log_sha256"] == plain["log_sha256"]
    assert frames == [(k, k * scenario.tick) for k in range(1, scenario.ticks + 1)]
    assert events == sim.log.events and events[0]["kind"] == "run_started" and events[-1]["kind"] == "run_finished"


def test_a_hook_added_after_start_sees_the_rest(small_scenario):
    sim = Simulation(load(small_scenario), seed=1).start()
    sim.step()
    later = []
    sim.on_event(later.append)
    sim.run()
    assert later and later[-1]["kind"] == "run_finished"
    assert later == sim.log.events[-len(later):]


def test_finish_early_marks_the_log_aborted_and_step_after_finish_refuses(small_scenario):
    sim = Simulation(load(small_scenario), seed=1, agents=False).start()
    for _ in range(3):
        sim.step()
    summary = sim.finish()
    assert not summary["completed"] and summary["ticks"] == 3
    assert sim.log.events[-1] == {"t": 3 * sim.scenario.tick, "kind": "run_aborted", "ticks": 3}
    assert sim.done and sim.finish() is summary
    with pytest.raises(RuntimeError, match="over"):
        sim.step()


def test_summary_records_how_the_run_was_made(tmp_path):
    sim = execute(load(LIBRARY / "ehr.yaml"), seed=2, agents=True, out=tmp_path)
    s = json.loads((tmp_path / "summary.json").read_text())
    assert s == json.loads(json.dumps(sim.summary))
    assert (s["transport"], s["processes"], s["xmpp_server"]) == ("inproc", 1, None)
    assert s["wall_seconds"] >= s["startup_seconds"] >= 0
    # every fault carries what the team did about it, by the metrics' own definitions
    assert s["faults"]
    for f in s["faults"]:
        assert {"detected_at", "diagnosed_at", "action_at", "recovered_at", "rca_ac1", "mitigated"} <= set(f)
    assert sum(f["mitigated"] or f["fixed_late"] for f in s["faults"]) == s["metrics"]["faults_resolved"]
