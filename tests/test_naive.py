"""The naive comparison model does the twin's work: the ratio `bench twin --naive` prints compares
like with like only if both models compute the same estate."""

import numpy as np
from opstwin.twin.model import Twin
from opstwin.twin.spec import DiurnalSpec, GenerateSpec, LoadSpec, TelemetrySpec
from opstwin.twin.synthetic import default_rps, generate

from opstwin.bench.naive import NaiveTwin


def test_naive_model_reaches_the_twins_state():
    topology = generate(GenerateSpec(services=300), 3)
    small = [h.model_copy(update={"cpu": 3.0}) for h in topology.hosts]  # some hosts contended
    topology = topology.model_copy(update={"hosts": small})
    load = LoadSpec(rps=3 * default_rps(topology), noise=0.0, diurnal=DiurnalSpec(amplitude=0.0))
    exact = TelemetrySpec(noise=0, scrape_gap=0)
    twin = Twin(topology, load, seed=1, tick=10.0, telemetry=exact)
    twin.run(600.0)
    naive = NaiveTwin(topology, load, seed=1, tick=10.0, telemetry=exact)
    naive.run(600.0)  # constant load: after as many ticks as the graph is deep, the one-tick lags are gone
    truth = twin.truth
    assert truth.rate.sum() > 0 and (truth.host_cpu > 1).any() and (truth.p99 > twin.slo).any()
    tol = 2e-5  # the twin's per-service figures are float32 (twin.model.FIGURES), the naive model's Python floats
    np.testing.assert_allclose(naive.rate, truth.rate, rtol=tol)
    np.testing.assert_allclose(naive.err, truth.error, rtol=tol, atol=1e-9)
    np.testing.assert_allclose(naive.p50, truth.p50, rtol=tol)
    np.testing.assert_allclose(naive.p99, truth.p99, rtol=tol)
    np.testing.assert_allclose(naive.demand, truth.host_cpu * naive.host_cpu, rtol=tol)
    assert naive.lines > 0
