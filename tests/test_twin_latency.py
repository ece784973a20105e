"""Latency rises with utilisation, sharply near saturation; overload sheds errors above rho = 1."""

import numpy as np
import pytest

from opstwin.twin.model import TIMEOUT_SECONDS, Twin
from opstwin.twin.spec import DiurnalSpec, LoadSpec, TopologySpec

ONE = TopologySpec.model_validate({
    "hosts": [{"name": "h", "cpu": 64}],
    "services": [{"name": "api", "host": "h", "replicas": 1, "capacity": 100, "latency": "20ms", "error_rate": 0}],
})


def at_load(rps: float, topology=ONE) -> dict[str, float]:
    """One tick of the single-service cloud at `rps` (utilisation rho = rps / 100)."""
    twin = Twin(topology, LoadSpec(rps=rps, noise=0, diurnal=DiurnalSpec(amplitude=0)))
    twin.advance()
    return twin.snapshot("api")


def test_an_idle_service_answers_in_its_service_time():
    s = at_load(0.001)
    assert s["p50"] == pytest.approx(0.02, rel=1e-3)
    assert s["error"] == pytest.approx(0.0)


def test_latency_rises_monotonically_with_utilisation():
    sweep = [at_load(rps) for rps in (10, 30, 50, 70, 80, 90, 95, 97)]
    p50 = [s["p50"] for s in sweep]
    p99 = [s["p99"] for s in sweep]
    assert all(a < b for a, b in zip(p50, p50[1:])), p50
    assert all(a < b for a, b in zip(p99, p99[1:])), p99
    assert all(hi > lo for lo, hi in zip(p50, p99))  # the tail is above the median


def test_latency_is_sharp_near_saturation():
    half, near = at_load(50), at_load(95)
    assert near["p50"] > 8 * half["p50"]  # queueing: S / (1 - rho) goes 2S -> 20S
    assert at_load(70)["p99"] - at_load(50)["p99"] < near["p99"] - at_load(90)["p99"]


def test_no_errors_are_shed_below_saturation():
    assert at_load(90)["error"] == pytest.approx(0.0)


@pytest.mark.parametrize("rho", [1.25, 2.0, 4.0])
def test_overload_sheds_the_excess_as_errors(rho):
    s = at_load(100 * rho)
    assert s["error"] == pytest.approx(1 - 1 / rho)
    assert s["rate"] * (1 - s["error"]) == pytest.approx(100.0)  # served = capacity


def test_more_replicas_mean_lower_latency():
    twin = Twin(ONE, LoadSpec(rps=90, noise=0, diurnal=DiurnalSpec(amplitude=0)))
    slow = twin.advance().p50[0]
    twin.replicas[0] = 3
    fast = twin.advance().p50[0]
    assert fast < slow


def test_latency_is_capped_at_the_timeout():
    twin = Twin(ONE, LoadSpec(rps=90, noise=0, diurnal=DiurnalSpec(amplitude=0)))
    twin.latency[0] = 10.0  # a 10 s service time at rho 0.9
    f = twin.advance()
    assert f.p99[0] == TIMEOUT_SECONDS and f.p50[0] <= TIMEOUT_SECONDS


def test_end_to_end_latency_includes_the_slowest_dependency(make_twin):
    twin = make_twin()
    f = twin.advance()
    web, api, db = (twin.topo.index(s) for s in ("web", "api", "db"))
    assert f.p50[web] > f.p50[api] > f.p50[db] > 0
    assert f.p50[web] >= 0.02 + f.p50[api]  # web's own service time on top of api's


def test_a_dependencys_errors_reach_its_callers(make_twin):
    twin = make_twin()
    twin.err0[twin.topo.index("db")] = 0.2
    f = twin.advance()
    web, api = twin.topo.index("web"), twin.topo.index("api")
    # api calls db 0.5 times per request, web calls api twice: errors compound along the calls
    assert f.error[api] == pytest.approx(1 - (1 - 0.0005) * 0.8**0.5, rel=1e-6)
    assert f.error[web] == pytest.approx(1 - (1 - 0.0005) * (1 - f.error[api]) ** 2, rel=1e-6)


def test_an_overloaded_dependency_slows_and_fails_its_callers(make_twin):
    twin = make_twin(rps=50)
    calm = twin.advance()
    twin.capacity[twin.topo.index("db")] = 25.0  # db now gets 50 rps for 25 of capacity: rho 2
    hot = twin.advance()
    web = twin.topo.index("web")
    assert hot.error[web] > 0.3 > calm.error[web]
    assert hot.p99[web] > 5 * calm.p99[web]


def test_cpu_contention_on_a_host_slows_its_services():
    topology = TopologySpec.model_validate({
        "hosts": [{"name": "h", "cpu": 64}],
        "services": [{"name": "api", "host": "h", "replicas": 4, "capacity": 100, "cpu": 2}],
    })
    load = LoadSpec(rps=200, noise=0, diurnal=DiurnalSpec(amplitude=0))
    roomy = Twin(topology, load).advance().p50[0]
    cramped_spec = topology.model_copy(deep=True)
    cramped_spec.hosts[0].cpu = 2.0  # 4 replicas at half load want 4 cores
    cramped = Twin(cramped_spec, load).advance()
    assert cramped.p50[0] > roomy
    assert np.isfinite(cramped.p50[0])


def test_figures_are_float32_and_a_five_nines_error_share_keeps_its_digits():
    """Per-service figures are float32 (half the memory traffic of a tick), but the success chain is
    float64: a 1e-5 error share through a dependency comes out to 1e-6 of itself, not 1% of it."""
    chain = TopologySpec.model_validate({
        "hosts": [{"name": "h", "cpu": 64}],
        "services": [{"name": "web", "host": "h", "capacity": 1000, "error_rate": 1e-5, "depends_on": ["db"]},
                     {"name": "db", "host": "h", "capacity": 1000, "error_rate": 2e-5}],
    })
    twin = Twin(chain, LoadSpec(rps=10, noise=0, diurnal=DiurnalSpec(amplitude=0)))
    frame = twin.advance()
    assert frame.rate.dtype == frame.p99.dtype == frame.error.dtype == np.float32
    assert frame.disk_used.dtype == frame.host_cpu.dtype == np.float64  # bytes and hosts stay float64
    web, db = twin.topo.index("web"), twin.topo.index("db")
    assert frame.error[db] == pytest.approx(2e-5, rel=1e-6)
    assert frame.error[web] == pytest.approx(1 - (1 - 1e-5) * (1 - 2e-5), rel=1e-6)
