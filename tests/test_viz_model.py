"""The Mesa model mirrors the run the engine steps: a library scenario stepped without a browser,
its mirrored state checked against the engine's own (active faults, running actions, the log)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mesa")

from opstwin.engine.simulation import Simulation  # noqa: E402
from opstwin.scenarios.library import resolve  # noqa: E402
from opstwin.scenarios.loader import load  # noqa: E402
from opstwin.viz.mirror import STATES  # noqa: E402
from opstwin.viz.model import OpsModel  # noqa: E402
from opstwin.viz.svg import COLOURS, render  # noqa: E402
from viz_helpers import big_scenario  # noqa: E402

VIZ = Path(__file__).resolve().parents[1] / "viz"
TICKS = 420  # storm, seed 1: the first fault comes at 3737 s (tick 374) and is fixed within minutes


def engine_states(sim: Simulation) -> dict[str, str]:
    """The state of every service computed from the engine's objects (not the mirror's events)."""
    twin, topo = sim.twin, sim.twin.topo
    frame = twin.frame

    def services(target: str) -> list[str]:
        if target in topo.services:
            return [target]
        if target in topo.hosts:
            return [topo.services[i] for i in np.flatnonzero(twin.svc_host == topo.host_index(target))]
        return [topo.services[i] for i in np.flatnonzero(twin.svc_disk == topo.disk_index(target))]

    state = {s: "healthy" for s in topo.services}
    bad = ~frame.up | (frame.error > 0.05) | (frame.p99 > twin.slo)
    for i in np.flatnonzero(bad):
        state[topo.services[i]] = "degraded"
    for fault in sim.faults.active:
        for s in services(fault.spec.target):
            state[s] = "faulty"
    for ticket in sim.control.tickets.values():
        if ticket.status in ("pending", "running"):  # accepted (action_started) and not finished
            for s in services(ticket.target):
                state[s] = "remediation"
    return state


@pytest.fixture(scope="module")
def stepped() -> tuple[OpsModel, list[dict]]:
    """storm, seed 1, stepped tick by tick; the mirror checked against the engine at every tick."""
    model = OpsModel("storm", seed=1)
    seen = []
    for _ in range(TICKS):
        model.step()
        mirrored = {a.name: a.state for a in model.services}
        assert mirrored == engine_states(model.sim), f"tick {model.tick}"
        seen.append({"tick": model.tick, "states": set(mirrored.values()),
                     "faults": len(model.sim.faults.active), "mirror_faults": len(model.mirror.faults)})
    return model, seen


def test_one_mesa_step_is_one_engine_tick(stepped):
    model, seen = stepped
    assert model.tick == model.sim.tick == model.steps == TICKS
    assert [s["tick"] for s in seen] == list(range(1, TICKS + 1))
    frame = model.datacollector.get_model_vars_dataframe()
    assert len(frame) == TICKS + 1  # the state at construction, then one row per tick
    assert np.allclose(frame["health"].to_numpy()[1:], model.sim.health)


def test_the_mirror_follows_faults_actions_and_incidents(stepped):
    model, seen = stepped
    assert all(s["faults"] == s["mirror_faults"] for s in seen)
    states = set().union(*(s["states"] for s in seen))
    assert {"healthy", "degraded", "faulty", "remediation"} <= states  # the run went through every state
    events = model.sim.log.events
    opened = {e["incident"] for e in events if e["kind"] == "incident_opened"}
    closed = {e["incident"] for e in events if e["kind"] in ("incident_closed", "incident_superseded")}
    assert opened and set(model.mirror.incidents) == opened - closed
    assert any(e["kind"] == "fault_resolved" and e["by"] != "expired" for e in events)
    assert model.mirror.mttr_s is not None
    kinds = {e.kind for e in model.mirror.timeline}
    assert {"fault", "alert", "incident", "diagnosis", "award", "action", "done", "fixed"} <= kinds


def test_services_and_hosts_are_agents_on_the_dependency_network(stepped):
    model, _ = stepped
    topo = model.sim.twin.topo
    assert len(model.services) == topo.n_services and len(model.hosts) == len(topo.hosts)
    graph = model.grid.G
    assert set(graph.nodes) == set(topo.services) | set(topo.hosts)
    assert all(graph.has_edge(a, b) for a, b in topo.graph.edges)
    for agent in [*model.services, *model.hosts]:
        assert agent.cell.coordinate == agent.name and agent in agent.cell.agents
    web = model.services[0]
    neighbours = {c.coordinate for c in web.cell.neighborhood}
    assert set(topo.dependencies(web.name)) | {web.host} <= neighbours


def test_the_svg_shows_every_service_in_its_state_colour(stepped):
    model, _ = stepped
    svg = render(model)
    circles = re.findall(r'<circle class="svc" data-name="([^"]+)" data-state="(\w+)"[^>]* fill="(#\w+)"', svg)
    assert [c[0] for c in circles] == [a.name for a in model.services]
    assert all(COLOURS[state] == fill for _, state, fill in circles)
    assert len(re.findall(r'<rect class="host"', svg)) == len(model.hosts)


def test_the_mttr_shown_is_the_evals():
    """Injection to recovery (health back within 0.02 of the tick before the fault), as
    opstwin.evaluation.metrics counts it for the run's summary."""
    model = OpsModel(load(resolve("storm")), seed=1)
    for _ in range(1500):
        model.step()
    shown = model.mirror.repairs
    summary = model.sim.finish()
    mttr = {f["id"]: f["mttr_s"] for f in summary["faults"] if f.get("mttr_s") is not None}
    assert len(mttr) >= 2 and shown.keys() == mttr.keys()
    assert all(abs(shown[k] - mttr[k]) <= 10.0 for k in mttr)  # fault by fault, within a tick


def test_a_mirrored_run_writes_the_same_incident_log_as_a_plain_one():
    scenario = load(resolve("storm"))
    plain = Simulation(scenario, seed=2)
    plain.start()
    model = OpsModel(scenario, seed=2)
    for _ in range(400):
        plain.step()
        model.step()
    assert plain.finish()["log_sha256"] == model.sim.finish()["log_sha256"]


def test_a_big_estate_draws_only_the_incident_neighbourhood(tmp_path):
    model = OpsModel(big_scenario(tmp_path), seed=1, warmup_minutes=70)
    assert model.tick == 420 and len(model.services) == 320
    svg = render(model)
    assert svg.count('<circle class="svc"') == 320
    trouble = sum(a.state != "healthy" or a.alerting for a in model.services)
    lines = svg.count('<line class="dep"')
    assert lines < model.sim.twin.topo.graph.number_of_edges() / 2
    assert (lines > 0) == (trouble > 0)


def test_a_bad_seed_is_one_clear_error():
    with pytest.raises(ValueError, match=r"^seed: expected a whole number, got 'x'$"):
        OpsModel("storm", seed="x")


def test_the_model_never_imports_solara():
    for path in sorted(VIZ.glob("*.py")):
        if path.name == "app.py":
            continue
        names = {a.name for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.ImportFrom) and n.module}
        assert not {n for n in names if n.split(".")[0] in ("solara", "reacton", "ipyvuetify")}, path.name
    code = "import sys, opstwin.viz.model, opstwin.viz.svg; assert 'solara' not in sys.modules, 'solara imported'"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0
