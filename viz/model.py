"""The Mesa model that mirrors a running scenario: one Mesa step is one tick of the engine.

:class:`OpsModel` builds an :class:`~opstwin.engine.simulation.Simulation` (twin, faults and the
agent team on the in-process bus), a :class:`~opstwin.viz.mirror.Mirror` on its hooks, and a
``mesa.discrete_space.Network`` from the dependency graph with a :class:`ServiceAgent` per service
and a :class:`HostAgent` per host. ``step()`` advances the engine one tick and copies the mirror's
state onto the agents; a ``DataCollector`` keeps health, open incidents, alerting components and
MTTR per tick for the plots. The run is the engine's: the same scenario and seed give the same
incident log as ``opstwin run --transport inproc``. This module never imports solara (app.py does).
"""

from __future__ import annotations

from pathlib import Path

import mesa
import networkx as nx
from mesa.discrete_space import Network

from opstwin.engine.simulation import Simulation
from opstwin.scenarios.loader import load
from opstwin.scenarios.library import resolve
from opstwin.scenarios.schema import Scenario
from opstwin.viz.agents import HostAgent, ServiceAgent
from opstwin.viz.mirror import STATES, Mirror

WORST_FIRST = ("remediation", "faulty", "degraded", "healthy")


def network_graph(sim: Simulation) -> nx.Graph:
    """Services joined to what they call, hosts joined to the services placed on them (undirected)."""
    topo = sim.twin.topo
    graph = nx.Graph()
    graph.add_nodes_from(topo.services, kind="service")
    graph.add_nodes_from(topo.hosts, kind="host")
    graph.add_edges_from(topo.graph.edges, kind="calls")
    graph.add_edges_from(((topo.hosts[h], s) for s, h in zip(topo.services, topo.svc_host)), kind="runs")
    return graph


class OpsModel(mesa.Model):
    """A scenario run seen through Mesa (see the module docstring).

    `scenario`: a library name (``storm``), a path, or a loaded :class:`Scenario`; `seed`: the run's
    seed (default: the scenario's); `warmup_minutes`: sim minutes stepped at construction, to open
    the page later in the run.
    """

    def __init__(self, scenario: str | Path | Scenario = "storm", seed: int | str | None = None,
                 warmup_minutes: int = 0) -> None:
        loaded = scenario if isinstance(scenario, Scenario) else load(resolve(scenario))
        run_seed = loaded.seed if seed in (None, "") else _seed(seed)
        super().__init__(seed=run_seed)
        self.scenario = loaded
        self.sim = Simulation(loaded, seed=run_seed, agents=True, transport="inproc")
        self.mirror = Mirror(self.sim)
        self.sim.start()
        self.summary: dict | None = None
        topo = self.sim.twin.topo
        self.grid = Network(network_graph(self.sim), capacity=1, random=self.random)
        layer = {i: k for k, (a, b) in enumerate(topo.levels) for i in range(a, b)}
        self.services = [ServiceAgent(self, name, i, layer[i], topo.hosts[topo.svc_host[i]])
                         for i, name in enumerate(topo.services)]
        self.hosts = [HostAgent(self, name, k) for k, name in enumerate(topo.hosts)]
        for agent in [*self.services, *self.hosts]:
            agent.cell = self.grid[agent.name]
        self.datacollector = mesa.DataCollector(model_reporters={
            "health": lambda m: m.sim.health[-1] if m.sim.health else 1.0,
            "open incidents": lambda m: len(m.mirror.incidents),
            "alerting": lambda m: len(m.mirror.alerting),
            "MTTR (min)": lambda m: (m.mirror.mttr_s or 0.0) / 60.0,
            "faulty": lambda m: m.mirror.count("faulty") + m.mirror.count("remediation"),
        })
        self.datacollector.collect(self)
        for _ in range(int(warmup_minutes * 60 // loaded.tick)):
            if not self.running:
                break
            self.step()

    @property
    def tick(self) -> int:
        return self.sim.tick

    def step(self) -> None:
        """One tick of the engine, then the agents and the plots catch up; at the end the run is finished."""
        if self.sim.done:
            self.running = False
            return
        frame = self.sim.step()
        self._sync(frame)
        self.datacollector.collect(self)
        if self.sim.done:
            self.summary = self.sim.finish()
            self.running = False

    def _sync(self, frame) -> None:
        mirror, twin = self.mirror, self.sim.twin
        faults = mirror.services_under(mirror.faults)
        actions = mirror.services_under(mirror.actions)
        for a in self.services:
            i = a.index
            a.state = STATES[mirror.state[i]]
            a.faults = [f"{m.id} {m.what}" for m in faults.get(i, ())]
            a.actions = [f"{m.id} {m.what}" for m in actions.get(i, ())]
            a.alerting = a.name in mirror.alerting
            a.error, a.p99 = float(frame.error[i]), float(frame.p99[i])
            a.host = self.sim.twin.topo.hosts[twin.svc_host[i]]
        by_host: dict[str, list[ServiceAgent]] = {}
        for a in self.services:
            by_host.setdefault(a.host, []).append(a)
        for h in self.hosts:
            mine = by_host.get(h.name, [])
            h.services = len(mine)
            h.faults = [f"{m.id} {m.what}" for m in mirror.faults.values() if m.target == h.name]
            h.actions = [f"{m.id} {m.what}" for m in mirror.actions.values() if m.target == h.name]
            states = {a.state for a in mine}
            h.state = "faulty" if h.faults else next((s for s in WORST_FIRST if s in states), "healthy")
            if h.actions:
                h.state = "remediation"


def _seed(value: int | str) -> int:
    """A seed from the page's text box: a whole number >= 0, or a clear error."""
    try:
        seed = int(str(value).strip())
    except ValueError:
        raise ValueError(f"seed: expected a whole number, got {value!r}") from None
    if seed < 0:
        raise ValueError(f"seed: expected a whole number >= 0, got {seed}")
    return seed
