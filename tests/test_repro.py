"""Every run is reproducible from its file and seed: same bytes in, same bytes out."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from opstwin.scenarios.loader import load
from opstwin.engine.runner import run
from opstwin.engine.simulation import Simulation

OPSTWIN = str(Path(sys.executable).with_name("opstwin"))
DEPLOYS = """\
  rps: 80
  noise: 0.05
deployments:
  - {at: 2m, service: api, version: v2, changes: {error_rate: 0.05, latency_factor: 2}}
"""


@pytest.fixture
def scenario_file(small_scenario):
    small_scenario.write_text(small_scenario.read_text().replace("  rps: 80\n  noise: 0.05\n", DEPLOYS))
    return small_scenario


def test_same_file_and_seed_give_identical_incident_logs(scenario_file, tmp_path):
    a = run(load(scenario_file), seed=7, out=tmp_path / "a")
    b = run(load(scenario_file), seed=7, out=tmp_path / "b")
    log_a, log_b = (tmp_path / "a" / "incidents.jsonl").read_bytes(), (tmp_path / "b" / "incidents.jsonl").read_bytes()
    assert log_a == log_b and b"deployment_started" in log_a
    assert a["log_sha256"] == b["log_sha256"] == hashlib.sha256(log_a).hexdigest()
    assert a["health"] == b["health"]
    assert (tmp_path / "a" / "health.csv").read_bytes() == (tmp_path / "b" / "health.csv").read_bytes()


def test_a_different_seed_gives_a_different_health_trace(scenario_file, tmp_path):
    run(load(scenario_file), seed=7, out=tmp_path / "a")
    run(load(scenario_file), seed=8, out=tmp_path / "b")
    ha = np.loadtxt(tmp_path / "a" / "health.csv", delimiter=",", skiprows=1)
    hb = np.loadtxt(tmp_path / "b" / "health.csv", delimiter=",", skiprows=1)
    assert ha.shape == hb.shape == (60, 2)
    assert np.array_equal(ha[:, 0], hb[:, 0]) and not np.array_equal(ha[:, 1], hb[:, 1])


def test_the_seed_defaults_to_the_scenarios(scenario_file):
    assert run(load(scenario_file))["log_sha256"] == run(load(scenario_file), seed=3)["log_sha256"]


def actions_log(scenario_file, seed):
    """A run in which an operator restarts, scales and undoes at fixed ticks; its events."""
    r = Simulation(load(scenario_file), seed=seed, agents=False).start()
    tickets = []
    for tick in range(60):
        r.twin.advance()
        if tick in (5, 6, 7, 20):
            tickets.append(r.control.request("restart_service", "db"))
        if tick == 10:
            tickets.append(r.control.request("scale_service", "api", {"replicas": 4}))
        if tick == 40:
            for t in tickets:
                r.control.undo(t.id)
    return [json.dumps(e, sort_keys=True) for e in r.log.events], [t.status for t in tickets]


def test_control_plane_runs_replay_exactly(scenario_file):
    events, statuses = actions_log(scenario_file, 1)
    assert actions_log(scenario_file, 1) == (events, statuses)
    assert sum('"action_' in e for e in events) >= 10


def test_reruns_in_fresh_processes_are_byte_identical(scenario_file, tmp_path):
    for name, hashseed in (("a", "1"), ("b", "2")):  # str hashing differs between the two processes
        env = {**os.environ, "PYTHONHASHSEED": hashseed}
        subprocess.run([OPSTWIN, "run", str(scenario_file), "--no-agents", "--seed", "4", "-q",
                        "--out", str(tmp_path / name)], check=True, capture_output=True, env=env, timeout=120)
    a, b = (json.loads((tmp_path / n / "summary.json").read_text()) for n in "ab")
    assert a["log_sha256"] == b["log_sha256"]
    assert (tmp_path / "a" / "incidents.jsonl").read_bytes() == (tmp_path / "b" / "incidents.jsonl").read_bytes()


def test_a_synthetic_topology_is_drawn_from_the_scenario_seed(cli):
    text = "name: big\nseed: {seed}\nduration: 1m\ntopology: {{generate: {{services: 30}}}}\n"
    a = load(cli.write("a.yaml", text.format(seed=1)))
    b = load(cli.write("b.yaml", text.format(seed=1)))
    c = load(cli.write("c.yaml", text.format(seed=2)))
    assert len(a.topology.services) == 30 and a.topology.generate is None  # expanded on load
    assert a.topology == b.topology and a.topology != c.topology


@pytest.mark.parametrize("duration, ticks", [("10m", 60), ("25s", 3), ("5s", 1), ("1.1s", 11)])
def test_a_run_covers_the_whole_duration_even_between_ticks(small_scenario, duration, ticks):
    text = small_scenario.read_text().replace("duration: 10m", f"duration: {duration}")
    if duration == "1.1s":
        text = text.replace("tick: 10s", "tick: 100ms")
    small_scenario.write_text(text)
    scenario = load(small_scenario)
    summary = run(scenario)
    assert scenario.ticks == ticks == summary["ticks"]
    assert summary["sim_seconds"] >= scenario.duration - 1e-9


def test_an_interrupted_run_keeps_its_log_and_says_it_stopped_early(tmp_path):
    from opstwin.scenarios.loader import load
    from opstwin.engine.runner import run

    scenario = load(Path(__file__).resolve().parents[1] / "scenarios" / "ehr.yaml")

    def interrupt(frame, _scenario):
        if frame.tick == 50:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(scenario, seed=1, out=tmp_path, agents=True, progress=interrupt)
    lines = [json.loads(line) for line in (tmp_path / "incidents.jsonl").read_text().splitlines()]
    assert lines[0]["kind"] == "run_started" and lines[-1] == {"kind": "run_aborted", "t": 500.0, "ticks": 50}
    assert not (tmp_path / "summary.json").exists()


@pytest.mark.slow  # two whole runs of a 300-service storm in fresh processes
def test_the_log_does_not_depend_on_pythons_string_hashing(tmp_path):
    """Two processes hash strings differently (PYTHONHASHSEED): no decision may follow a set's order.
    The diagnoser's subgraph of the alerting services used to (contention-storm seed 1 at seed 4)."""
    exe = str(Path(sys.executable).parent / "opstwin")
    shas = []
    for hashseed in ("1", "4"):
        out = tmp_path / hashseed
        subprocess.run([exe, "run", "scenarios/contention/contention-storm.yaml", "--seed", "1", "--transport", "inproc",
                        "-q", "--out", str(out)], check=True, capture_output=True, timeout=600,
                       env={**os.environ, "PYTHONHASHSEED": hashseed}, cwd=Path(__file__).parent.parent)
        shas.append(json.loads((out / "summary.json").read_text())["log_sha256"])
    assert shas[0] == shas[1]
