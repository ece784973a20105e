"""Confounders (flash crowds, routine deployments, organic disk growth) and seeded scheduled faults
(`jitter`, `targets`): they act as documented, differ per seed, and bad values are refused with
their field path. The library's fault plans differ between seeds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from opstwin.engine.simulation import Simulation
from opstwin.faults.spec import parse_fault
from opstwin.scenarios.errors import ScenarioError
from opstwin.scenarios.loader import load
from opstwin.twin.model import Twin
from opstwin.twin.spec import (DiurnalSpec, LoadSpec, RandomDeploymentsSpec, RandomSurgesSpec, SurgeSpec,
                               TopologySpec)

LIBRARY = Path(__file__).resolve().parent.parent / "scenarios"


def _flat(**kw) -> LoadSpec:
    return LoadSpec(rps=50, noise=0.0, diurnal=DiurnalSpec(amplitude=0), **kw)


def _rates(twin: Twin, ticks: int) -> np.ndarray:
    return np.array([twin.advance().rate[0] for _ in range(ticks)])


def test_a_flash_crowd_ramps_up_holds_and_goes_away(small_topology):
    twin = Twin(small_topology, _flat(surges=[SurgeSpec(at=600, factor=1.8, duration=1200, ramp=120, entry="web")]))
    r = _rates(twin, 240)  # tick k is at 10 * (k + 1) seconds
    t = np.arange(1, 241) * 10.0
    assert np.allclose(r[t < 600], 50)
    assert np.allclose(r[(t >= 720) & (t < 1680)], 90)
    assert 50 < r[t == 660][0] < 90  # ramping
    assert np.allclose(r[t >= 1800], 50)


def test_random_surges_differ_per_seed_and_stay_in_their_ranges(small_topology):
    spec = _flat(random_surges=RandomSurgesSpec(rate_per_hour=2, factor=(1.3, 1.6), duration=(600, 900)))
    plans = [Twin(small_topology, spec, seed=s, duration=6 * 3600)._surges for s in (1, 2)]
    assert plans[0] and plans[1] and [p[:4] for p in plans[0]] != [p[:4] for p in plans[1]]
    for start, end, _, factor, _ in plans[0]:
        assert 1.3 <= factor <= 1.6 and 600 <= end - start <= 900 and start < 6 * 3600


def test_routine_deployments_are_logged_change_little_and_inject_no_fault(small_scenario):
    scenario = load(small_scenario).model_copy(update={
        "duration": 3600.0, "random_deployments": [RandomDeploymentsSpec(rate_per_hour=6, services=["api", "db"])]})
    sim = Simulation(scenario, seed=2, agents=False)
    sim.run()
    started = sim.log.of_kind("deployment_started")
    assert len(started) >= 2 and {e["service"] for e in started} <= {"api", "db"}
    assert sim.log.of_kind("fault_injected") == []
    assert min(sim.health) > 0.98
    other = Simulation(scenario, seed=3, agents=False)
    other.run()
    assert [(e["t"], e["service"]) for e in other.log.of_kind("deployment_started")] != \
        [(e["t"], e["service"]) for e in started]


def test_organic_disk_growth_fills_a_disk_slowly_without_a_fault(small_topology):
    data = small_topology.model_dump()
    data["hosts"][2]["disks"][0]["growth"] = 24e9  # 1GB an hour, on a disk nothing writes to
    twin = Twin(TopologySpec.model_validate(data), _flat())
    used = [twin.advance().disk_used[2] for _ in range(360)]  # an hour
    assert used[0] < used[-1] and (np.diff(used) > 0).all()
    assert used[-1] - used[0] == pytest.approx(1e9 / 100e9, rel=0.01)


def test_a_scheduled_fault_with_jitter_and_targets_is_drawn_per_seed(small_scenario):
    text = small_scenario.read_text() + (
        "faults:\n  scheduled:\n"
        "    - {type: crash_loop, targets: [web, api, db], at: 5m, jitter: 4m}\n")
    small_scenario.write_text(text)
    scenario = load(small_scenario)
    assert scenario.faults.scheduled[0].target == "web"  # the first of `targets` unless given
    plans = {}
    for seed in range(6):
        sim = Simulation(scenario, seed=seed, agents=False).start()
        (f,) = sim.faults.plan
        assert 60 <= f.at <= 540 and f.target in {"web", "api", "db"} and f.jitter == 0 and f.targets is None
        plans[seed] = (f.at, f.target)
    assert len(set(plans.values())) > 3
    again = Simulation(scenario, seed=3, agents=False).start().faults.plan[0]
    assert (again.at, again.target) == plans[3]


def test_seeded_fault_params_stay_out_of_the_ground_truth():
    f = parse_fault({"type": "crash_loop", "targets": ["a", "b"], "at": 600, "jitter": 60, "share": 0.5})
    assert set(f.params()) == {"share", "backoff", "duration"}


@pytest.mark.parametrize("entry, message", [
    ({"type": "crash_loop", "target": "a", "at": 60, "jitter": 120}, "jitter must not exceed"),
    ({"type": "crash_loop", "target": "c", "targets": ["a", "b"], "at": 60}, "not among `targets`"),
    ({"type": "crash_loop", "targets": ["a", "a"], "at": 60}, "twice"),
    ({"type": "crash_loop", "targets": [], "at": 60}, "at least 1"),
    ({"type": "crash_loop", "target": "a", "at": 60, "jitter": -1}, "non-negative"),
])
def test_bad_seeded_faults_are_refused(entry, message):
    with pytest.raises(ValidationError, match=message):
        parse_fault(entry)


@pytest.mark.parametrize("addition, path", [
    ("faults:\n  scheduled:\n    - {type: crash_loop, targets: [web, nope], at: 5m}\n", "faults.scheduled[0].targets[1]"),
    ("faults:\n  scheduled:\n    - {type: crash_loop, target: web, at: 5m, jitter: 5m}\n", "faults.scheduled[0].jitter"),
    ("random_deployments:\n  - {rate_per_hour: 1, services: [web, nope]}\n", "random_deployments[0].services[1]"),
    ("random_deployments:\n  - {rate_per_hour: 1, start: 5m, end: 2m}\n", "random_deployments[0]"),
    # appended under the scenario's closing `load:` section
    ("  surges: [{at: 1m, factor: 2, duration: 5m, entry: api}]\n", "load.surges[0].entry"),
    ("  surges: [{at: 1m, factor: 2, duration: 2m, ramp: 2m}]\n", "load.surges[0]"),
    ("  surges: [{at: 1m, factor: 0.5, duration: 5m}]\n", "load.surges[0].factor"),
    ("  surges: [{at: 20m, factor: 2, duration: 5m}]\n", "load.surges[0].at"),
    ("  random_surges: {rate_per_hour: 1, factor: [2, 1.5]}\n", "load.random_surges"),
])
def test_bad_confounders_and_seeded_faults_name_their_path(small_scenario, addition, path):
    small_scenario.write_text(small_scenario.read_text() + addition)
    with pytest.raises(ScenarioError) as exc:
        load(small_scenario)
    assert [p.path for p in exc.value.problems] == [path]


def _plan(path: Path, seed: int) -> list[tuple[str, str, float]]:
    sim = Simulation(load(path), seed=seed, agents=False).start()
    return [(f.type, f.target, f.at) for f in sim.faults.plan]


@pytest.mark.parametrize("path", [p for p in sorted(LIBRARY.glob("*.yaml")) if not load(p).faults.empty],
                         ids=lambda p: p.name)
def test_library_fault_plans_differ_per_seed(path):
    assert _plan(path, 1) != _plan(path, 2)
    assert _plan(path, 1) == _plan(path, 1)


def test_most_library_faults_are_drawn_per_seed():
    scheduled = [f for p in LIBRARY.glob("*.yaml") for f in load(p).faults.scheduled]
    assert scheduled and all(f.jitter > 0 for f in scheduled)
    assert sum(1 for f in scheduled if f.targets) >= len(scheduled) // 2
