"""The Mesa agents of the page: one per service and one per host, each on its own cell of the
network space (the dependency graph, plus an edge from every host to the services placed on it).

They hold what the page draws, copied from the :class:`~opstwin.viz.mirror.Mirror` each tick by
:meth:`OpsModel.step <opstwin.viz.model.OpsModel.step>`; they decide nothing (the run's agents are
the team inside the engine).
"""

from __future__ import annotations

from mesa.discrete_space import CellAgent


class ServiceAgent(CellAgent):
    """A service: its state (healthy, degraded, faulty, remediation), where it runs, what is on it."""

    def __init__(self, model, name: str, index: int, layer: int, host: str) -> None:
        super().__init__(model)
        self.name, self.index, self.layer, self.host = name, index, layer, host
        self.state = "healthy"
        self.faults: list[str] = []  # "f3 memory_leak", the active faults that reach it
        self.actions: list[str] = []  # "a2 restart_service", the actions running on it
        self.alerting = False
        self.error = 0.0  # share of requests failing (telemetry)
        self.p99 = 0.0  # seconds (telemetry)


class HostAgent(CellAgent):
    """A host: the worst state of the services it runs, and the faults and actions aimed at it."""

    def __init__(self, model, name: str, index: int) -> None:
        super().__init__(model)
        self.name, self.index = name, index
        self.state = "healthy"
        self.services = 0  # how many services run here now
        self.faults: list[str] = []
        self.actions: list[str] = []
