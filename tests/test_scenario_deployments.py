"""Deployments written in a scenario: scheduled, logged, applied, and undone by a rollback."""

import pytest
import yaml

from opstwin.scenarios.loader import parse
from opstwin.engine.simulation import Simulation

SCENARIO = """
name: deploys
duration: 30m
tick: 10s
topology:
  hosts: [{name: h}]
  services:
    - {name: web, host: h, entry: true, version: v1, latency: 20ms, capacity: 100, depends_on: [api]}
    - {name: api, host: h, version: v7, error_rate: 0.001}
load: {rps: 50, noise: 0, diurnal: {amplitude: 0}}
deployments:
  - at: 5m
    service: api
    version: v8
    rollout: 2m
    changes: {error_rate: 0.2, latency_factor: 3, capacity_factor: 0.5, memory_leak: 1MB}
"""


@pytest.fixture
def run():
    return Simulation(parse(yaml.safe_load(SCENARIO), "deploys.yaml"), agents=False).start()


def advance_to(run, t):
    while run.twin.now < t:
        run.twin.advance()


def test_a_deployment_is_logged_when_it_starts_and_when_its_rollout_ends(run):
    advance_to(run, 20 * 60)
    started, finished = run.log.of_kind("deployment_started"), run.log.of_kind("deployment_finished")
    assert started == [{"t": 300.0, "kind": "deployment_started", "service": "api", "version": "v8", "previous": "v7"}]
    assert finished == [{"t": 420.0, "kind": "deployment_finished", "service": "api", "version": "v8"}]


def test_nothing_changes_before_the_deployment_time(run):
    advance_to(run, 290)
    assert run.twin.version("api") == "v7"
    assert run.log.of_kind("deployment_started") == []
    assert run.twin.snapshot("api")["error"] == pytest.approx(0.001, rel=1e-4)  # a float32 figure


def test_the_new_versions_changes_are_applied(run):
    api = run.twin.topo.index("api")
    advance_to(run, 200)
    latency, capacity = run.twin.latency[api], run.twin.capacity[api]
    advance_to(run, 400)
    assert run.twin.version("api") == "v8"
    assert run.twin.latency[api] == pytest.approx(3 * latency)
    assert run.twin.capacity[api] == pytest.approx(0.5 * capacity)
    assert run.twin.err0[api] == pytest.approx(0.2)
    assert run.twin.leak[api] == pytest.approx(1e6)
    assert run.twin.snapshot("web")["error"] > 0.19  # callers feel it
    assert run.twin.health < 0.85


def test_a_rollback_restores_the_previous_version(run):
    advance_to(run, 200)
    healthy = run.twin.health
    api = run.twin.topo.index("api")
    before = run.twin.latency[api], run.twin.capacity[api], run.twin.err0[api], run.twin.leak[api]
    advance_to(run, 600)
    ticket = run.control.request("rollback_deployment", "api")
    advance_to(run, 600 + 130)
    assert ticket.status == "succeeded"
    assert run.twin.version("api") == "v7"
    assert (run.twin.latency[api], run.twin.capacity[api], run.twin.err0[api], run.twin.leak[api]) == before
    assert run.twin.health == pytest.approx(healthy, abs=0.01)


def test_a_deployment_in_the_twin_without_a_scenario(make_twin):
    from opstwin.twin.spec import DeploymentSpec

    twin = make_twin(deployments=[DeploymentSpec(at=60, service="db", version="v2", changes={"latency_factor": 2})])
    twin.run(120)
    assert twin.version("db") == "v2"
    assert [v.name for v in twin.versions[twin.topo.index("db")]] == ["v1", "v2"]
    assert twin.log.of_kind("deployment_started")[0]["t"] == 60.0
