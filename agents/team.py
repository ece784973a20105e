"""Building the agent team a scenario asks for (its `agents:` section, or the defaults).

Names are fixed so logs read well: ``monitor-0..``, ``diagnoser``, ``coordinator``, ``guard``,
``control`` (the control plane's endpoint) and the specialists' own names. Monitors and the
control endpoint live with the twin; the rest can live anywhere a transport puts them. No agent
gets the twin: monitors are fed its frames, the control endpoint holds an action port.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from opstwin.agents.approvals import Grants
from opstwin.agents.base import Agent
from opstwin.agents.baselines import BASELINES
from opstwin.agents.control_agent import ControlAgent
from opstwin.agents.coordinator import Coordinator
from opstwin.agents.diagnoser import Diagnoser
from opstwin.agents.guard import Guard
from opstwin.agents.monitor import Monitor
from opstwin.agents.policies import load_policy
from opstwin.agents.reasoners import RulesReasoner
from opstwin.agents.spec import AgentsSpec
from opstwin.agents.specialist import Specialist, past_record
from opstwin.twin.control import ActionPort
from opstwin.twin.topology import Topology

TWIN_SIDE = ("monitor", "control")  # roles that run where the telemetry is made


@dataclass
class Team:
    agents: list[Agent]
    monitors: list[Monitor]
    control: ControlAgent

    @property
    def names(self) -> list[str]:
        return sorted(a.name for a in self.agents)

    def by_name(self, name: str) -> Agent:
        return next(a for a in self.agents if a.name == name)


def make_reasoner(spec: AgentsSpec, topo: Topology):
    """The diagnoser's reasoner named in the scenario: `rules`, or a local LLM (`ollama`, `openai`) checked at
    once: a server that is down or lacks the model raises ReasonerUnavailable unless `fallback: rules`."""
    r = spec.diagnoser.reasoner
    if r.backend == "rules":
        return RulesReasoner(topo)
    from opstwin.agents.llm.reasoner import LlmReasoner

    return LlmReasoner(topo, r).start()


def monitor_names(spec: AgentsSpec, topo: Topology) -> list[str]:
    """The monitors' names: one per shard (the guard asks each of them for SLIs)."""
    return [f"monitor-{k}" for k in range(min(spec.monitor.shards, topo.n_services))]


def remote_agents(spec: AgentsSpec, topo: Topology, seed: int, tick: float, grants: Grants | None = None) -> list[Agent]:
    """The agents that need no telemetry feed: diagnoser, coordinator, guard, specialists (or a standing
    baseline). `grants` holds the key the guard shares with ``control`` (:mod:`agents.approvals`)."""
    if spec.baseline:
        return [BASELINES[spec.baseline](spec.baseline, seed, topo, tick)]
    models: dict = {}  # a trained model is loaded once for the whole team
    specialists = [
        Specialist(s.name, seed, list(s.categories), load_policy(s.policy, s.profiles(), models), s.max_queue,
                   off_shift=[(g.start, g.end) for g in s.off_shift],
                   history=past_record(seed, s.name, list(s.categories), s.profiles(), s.history))
        for s in spec.specialists
    ]
    skills = {s.name: list(s.categories) for s in spec.specialists}
    return [
        Diagnoser("diagnoser", seed, make_reasoner(spec, topo), tick, spec.diagnoser.gather),
        Coordinator("coordinator", seed, skills, tick, spec.coordinator.verify, spec.guard.max_attempts,
                    human=spec.guard.approval.human),
        Guard("guard", seed, spec.guard, tick, topo, monitor_names(spec, topo), grants=grants),
        *specialists,
    ]


def worker_profiles(spec: AgentsSpec) -> dict[str, dict[str, tuple[float, float]]]:
    """Specialists' true skill profiles, for the twin's control plane (only those the scenario declares)."""
    if spec.baseline:
        return {}
    return {s.name: p for s in spec.specialists if (p := s.profiles()) is not None}


def build_team(spec: AgentsSpec, topo: Topology, slo: np.ndarray, tick: float, port: ActionPort, seed: int) -> Team:
    """The whole team from what agents may know: the scenario's agents spec, the topology and
    per-service SLOs (operator knowledge), the tick, and the control plane's action port."""
    n = topo.n_services
    names = monitor_names(spec, topo)
    shards = len(names)
    disks, hosts = np.arange(len(topo.disks)), np.arange(len(topo.hosts))
    monitors = [
        Monitor(name, seed, topo, slo, tick, np.arange(k, n, shards), disks[k::shards], hosts[k::shards], spec.monitor,
                spec.warmup, diagnoser=spec.baseline or "diagnoser")
        for k, name in enumerate(names)
    ]
    grants = Grants()  # the guard's and control's shared key: control runs only what the guard approved
    endpoint = ControlAgent("control", seed, port, grants, trusted=(spec.baseline,) if spec.baseline else ())
    agents = [*monitors, endpoint, *remote_agents(spec, topo, seed, tick, grants)]
    names = [a.name for a in agents]
    if len(set(names)) != len(names):
        raise ValueError(f"agent names must be unique: {sorted(names)}")
    return Team(agents, monitors, endpoint)
