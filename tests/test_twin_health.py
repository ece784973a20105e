"""Health H: the share of user requests served within SLO and without error, in [0, 1]."""

import numpy as np
import pytest

from opstwin.twin.health import health, within_slo


def _h(twin) -> float:
    """Advance one tick; the twin's ground-truth health H then (frames do not carry it)."""
    twin.advance()
    return twin.health


def test_a_healthy_cloud_is_close_to_one(make_twin):
    twin = make_twin()
    trace = [_h(twin) for _ in range(20)]
    assert all(0.99 < h <= 1.0 for h in trace)


def test_errors_at_an_entry_service_lower_health_by_their_share(make_twin):
    twin = make_twin()
    before = _h(twin)
    twin.err0[twin.topo.index("web")] = 0.3
    after = _h(twin)
    assert after == pytest.approx(before * 0.7 / (1 - 0.0005), rel=1e-3)


def test_errors_deep_in_the_graph_lower_health_too(make_twin):
    twin = make_twin()
    before = _h(twin)
    twin.err0[twin.topo.index("db")] = 0.5
    assert _h(twin) < before - 0.2


def test_missing_the_slo_lowers_health(make_twin):
    twin = make_twin()
    before = _h(twin)
    twin.latency[twin.topo.index("web")] = 0.6  # service time alone exceeds the 500 ms SLO
    after = _h(twin)
    assert after < 0.1 < before


def test_an_entry_service_that_is_down_takes_health_to_zero(make_twin):
    twin = make_twin()
    twin.advance()
    twin.effects.set("outage", "svc_down", twin.topo.index("web"), 1)
    assert _h(twin) == pytest.approx(0.0)
    twin.effects.clear("outage")
    assert _h(twin) > 0.99  # back when the outage ends


def test_a_dependency_that_is_down_takes_health_to_zero(make_twin):
    twin = make_twin()
    twin.advance()
    twin.restart("db")  # its only replica restarts
    assert _h(twin) == pytest.approx(0.0)
    twin.run(twin.now + 60)
    assert twin.health > 0.99


def test_health_stays_in_zero_one_under_any_load(make_twin):
    for rps in (0.0, 1.0, 50.0, 500.0, 1e6):
        twin = make_twin(rps=rps, noise=0.3, seed=4)
        for _ in range(5):
            assert 0.0 <= _h(twin) <= 1.0


def test_health_is_one_without_user_traffic():
    one = np.ones(2)
    assert health(np.zeros(2), one * 0.5, one, one * 2, one) == 1.0


def test_health_weights_entry_services_by_their_requests():
    rate = np.array([90.0, 10.0])
    error = np.array([0.0, 1.0])  # the small entry fails completely
    fast = np.full(2, 0.01)
    assert health(rate, error, fast, fast * 3, np.ones(2)) == pytest.approx(0.9, abs=1e-6)


def test_share_within_slo_is_half_at_the_median_and_99_percent_at_the_p99():
    p50, p99 = np.array([0.1]), np.array([0.4])
    assert within_slo(p50, p99, p50)[0] == pytest.approx(0.5)
    assert within_slo(p50, p99, p99)[0] == pytest.approx(0.99)
    assert within_slo(p50, p99, np.array([10.0]))[0] == pytest.approx(1.0)
