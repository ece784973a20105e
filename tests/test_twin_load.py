"""User load: entry rates, flow through dependencies, the daily cycle and seeded noise."""

import numpy as np
import pytest

from opstwin.twin.model import Twin
from opstwin.twin.spec import DiurnalSpec, LoadSpec, TopologySpec
from opstwin.twin.topology import Topology


def rates(twin) -> dict[str, float]:
    frame = twin.frame
    return {s: float(frame.rate[twin.topo.index(s)]) for s in twin.topo.services}


def test_entry_rate_flows_down_with_calls_multipliers(make_twin):
    twin = make_twin(rps=50)
    twin.advance()
    r = rates(twin)
    assert r["web"] == pytest.approx(50.0)
    assert r["api"] == pytest.approx(100.0)  # web calls api twice per request
    assert r["db"] == pytest.approx(50.0)  # api calls db every other request


def test_a_service_with_two_callers_receives_the_sum_of_their_calls():
    topology = TopologySpec.model_validate({
        "hosts": [{"name": "h"}],
        "services": [
            {"name": "shop", "host": "h", "entry": True, "depends_on": [{"service": "cache", "calls": 3}, "db"]},
            {"name": "admin", "host": "h", "entry": True, "depends_on": ["db"]},
            {"name": "cache", "host": "h", "depends_on": [{"service": "db", "calls": 0.1}]},
            {"name": "db", "host": "h"},
        ],
    })
    load = LoadSpec(rps=100, weights={"shop": 3, "admin": 1}, noise=0, diurnal=DiurnalSpec(amplitude=0))
    twin = Twin(topology, load)
    twin.advance()
    r = rates(twin)
    assert r["shop"] == pytest.approx(75.0) and r["admin"] == pytest.approx(25.0)  # weights split the users
    assert r["cache"] == pytest.approx(225.0)
    assert r["db"] == pytest.approx(75.0 + 25.0 + 22.5)  # shop + admin + a tenth of the cache's


def test_entry_services_default_to_what_nothing_depends_on(small_topology):
    topology = small_topology.model_copy(deep=True)
    for s in topology.services:
        s.entry = False
    topo = Topology.build(topology)
    assert [s for s, e in zip(topo.services, topo.entry) if e] == ["web"]


def test_services_are_ordered_callers_before_dependencies(small_topology):
    topo = Topology.build(small_topology)
    assert topo.services == ["web", "api", "db"]
    assert topo.dependents("api") == ["web"] and topo.dependencies("api") == ["db"]
    assert topo.services_on_host("h2") == ["api", "db"]


def test_diurnal_cycle_peaks_at_the_peak_hour_and_dips_twelve_hours_later(make_twin):
    twin = make_twin(amplitude=0.4)
    peak = twin.load.diurnal.peak
    assert twin.diurnal(peak) == pytest.approx(1.4)
    assert twin.diurnal(peak + 43200) == pytest.approx(0.6)
    assert twin.diurnal(peak + 86400) == pytest.approx(1.4)


def test_user_load_follows_the_daily_cycle(make_twin):
    twin = make_twin(amplitude=0.3, tick=600)
    web = twin.topo.index("web")
    seen = {}
    twin.run(86400, on_frame=lambda f: seen.__setitem__(f.t, float(f.rate[web])))
    busiest = max(seen, key=seen.get)
    quietest = min(seen, key=seen.get)
    assert busiest == pytest.approx(twin.load.diurnal.peak)  # 14:00 by default
    assert quietest == pytest.approx(twin.load.diurnal.peak - 43200)
    assert seen[busiest] == pytest.approx(50 * 1.3) and seen[quietest] == pytest.approx(50 * 0.7)


def entry_trace(twin, ticks=50) -> np.ndarray:
    web = twin.topo.index("web")
    return np.array([twin.advance().rate[web] for _ in range(ticks)])


def test_noise_is_seeded_same_seed_same_rates(make_twin):
    a = entry_trace(make_twin(noise=0.1, seed=5))
    b = entry_trace(make_twin(noise=0.1, seed=5))
    c = entry_trace(make_twin(noise=0.1, seed=6))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_noise_has_the_requested_relative_size(make_twin):
    trace = entry_trace(make_twin(noise=0.1, seed=1), ticks=400)
    assert trace.mean() == pytest.approx(50.0, rel=0.03)
    assert trace.std() / trace.mean() == pytest.approx(0.1, rel=0.2)
    quiet = entry_trace(make_twin(noise=0.0, seed=1))
    assert np.all(quiet == 50.0)


def test_noise_is_applied_at_the_entry_and_carried_downstream(make_twin):
    twin = make_twin(noise=0.2, seed=2)
    for _ in range(5):
        f = twin.advance()
        web, api = f.rate[twin.topo.index("web")], f.rate[twin.topo.index("api")]
        assert api == pytest.approx(2 * web)
