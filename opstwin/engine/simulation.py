"""The run engine: one scenario run as an object you can step.

A :class:`Simulation` owns the twin, the fault injector, the agent team, the superstep clock and
the incident log. ``start()`` builds them (and brings up the agents' transport), ``step()``
advances one tick (the twin makes a telemetry frame, monitors observe it, the clock runs the
tick's rounds), ``done`` says the scenario's duration is reached, and ``finish()`` closes the
transport and the log and returns the summary. ``opstwin run``, ``eval``, the benches, the
Gymnasium environment and the Mesa page all drive this object; none keeps its own loop.

Observers attach typed hooks: ``on_frame(sim, frame)`` after each tick, ``on_event(event)``
for every incident-log line as it is written. Hooks only watch; a run with hooks writes the same
log as one without. Wall-clock time is measured here only to report speed and start-up; it
never feeds a decision (docs/architecture.md, "Supersteps").
"""

from __future__ import annotations

import math

import time
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np

from opstwin.agents.bus import Clock, InProcTransport, Transport
from opstwin.agents.team import Team, build_team, worker_profiles
from opstwin.faults.injector import Injector
from opstwin.scenarios.schema import Scenario
from opstwin.twin.bulk import paused_gc, release_built
from opstwin.twin.control import ActionPort, ControlPlane
from opstwin.twin.eventlog import EventLog
from opstwin.twin.model import Twin
from opstwin.twin.telemetry import Frame

TransportFactory = Callable[[list], Transport]


class FrameHook(Protocol):
    def __call__(self, sim: "Simulation", frame: Frame) -> None: ...


class EventHook(Protocol):
    def __call__(self, event: dict[str, Any]) -> None: ...


class Simulation:
    """One run of `scenario` with `seed` (see the module docstring)."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        seed: int | None = None,
        agents: bool = True,
        transport: str | TransportFactory = "inproc",
        processes: int = 1,
        xmpp: str | None = None,
        transport_options: dict[str, Any] | None = None,
        log_path: Path | str | None = None,
    ) -> None:
        self.scenario = scenario
        self.seed = scenario.seed if seed is None else seed
        self.agents = agents
        self.transport_kind = transport if isinstance(transport, str) else "inproc"
        self._transport_factory = transport if callable(transport) else None
        self.processes = processes if self.transport_kind == "spade" else 1
        self.xmpp = xmpp
        self.transport_options = dict(transport_options or {})
        self.log_path = Path(log_path) if log_path else None
        self.frame_hooks: list[FrameHook] = []
        self.event_hooks: list[EventHook] = []
        self.health: list[float] = []
        self.twin: Twin | None = None
        self.control: ControlPlane | None = None
        self.faults: Injector | None = None
        self.log: EventLog | None = None
        self.team: Team | None = None
        self.clock: Clock | None = None
        self.summary: dict[str, Any] | None = None
        self.started = False
        self.completed = False
        self._t0 = 0.0
        self.startup_seconds = 0.0

    # ------------------------------------------------------------------ hooks
    def on_frame(self, hook: FrameHook) -> FrameHook:
        """Call `hook(sim, frame)` after every tick (usable as a decorator)."""
        self.frame_hooks.append(hook)
        return hook

    def on_event(self, hook: EventHook) -> EventHook:
        """Call `hook(event)` for every incident-log event as it is written (usable as a decorator)."""
        self.event_hooks.append(hook)
        if self.log is not None:
            self.log.listeners.append(hook)
        return hook

    # -------------------------------------------------------------- lifecycle
    def start(self) -> "Simulation":
        """Build twin, faults and team; bring up the transport. Nothing is left on disk if that fails."""
        if self.started:
            raise RuntimeError("this simulation has already started")
        self._t0 = time.perf_counter()  # clock-ok: reported, never decided on
        with paused_gc():  # a big estate is millions of long-lived objects: see twin/bulk.py
            self._build()
        if self.agents:
            self.clock = Clock(self._make_transport(), self.team.names, self.log, crashes=self._crashes())
        self.started = True
        self.startup_seconds = time.perf_counter() - self._t0  # clock-ok
        return self

    def _build(self) -> None:
        """Twin, control plane, faults and team (the transport comes after, outside the GC pause)."""
        s = self.scenario
        self.log = EventLog(self.log_path)
        self.log.listeners.extend(self.event_hooks)
        self.twin = Twin(s.topology, s.load, s.deployments, seed=self.seed, tick=s.tick, log=self.log,
                         telemetry=s.telemetry, random_deployments=s.random_deployments, duration=s.duration)
        self.control = ControlPlane(self.twin, s.actions, workers=worker_profiles(s.agents) if self.agents else None)
        self.faults = Injector(self.twin, self.control, s.faults, seed=self.seed, duration=s.duration)
        self.log.emit(0.0, "run_started", scenario=s.name, seed=self.seed, services=self.twin.topo.n_services,
                      hosts=len(self.twin.topo.hosts), duration=s.duration, tick=s.tick)
        if self.agents:
            try:
                self.team = build_team(s.agents, self.twin.topo, self.twin.slo.copy(), s.tick,
                                       ActionPort(self.control), self.seed)
            except BaseException:  # e.g. the reasoner's model server is down: nothing is left on disk
                self.log.close()
                if self.log_path is not None:
                    self.log_path.unlink(missing_ok=True)
                raise
            reasoner = self._reasoner()
            if reasoner is not None and hasattr(reasoner, "describe"):  # an LLM: which model, asked how
                self.log.emit(0.0, "llm_reasoner", **reasoner.describe())

    def _reasoner(self) -> Any:
        """The diagnoser's reasoner, if the team has a diagnoser (a standing baseline has none)."""
        diagnoser = next((a for a in self.team.agents if a.role == "diagnoser"), None) if self.team else None
        return getattr(diagnoser, "reasoner", None)

    def _crashes(self) -> dict[str, tuple[int, str]]:
        """The scenario's specialist crashes: name -> (first tick at or after `crash_at`, why)."""
        tick = self.scenario.tick
        return {s.name: (max(1, math.ceil(s.crash_at / tick - 1e-9)), f"crashed (scenario: crash_at {s.crash_at:g}s)")
                for s in self.scenario.agents.specialists if s.crash_at is not None}

    def _make_transport(self) -> Transport:
        if self._transport_factory is not None:
            return self._transport_factory(self.team.agents)
        if self.transport_kind == "inproc":
            return InProcTransport(self.team.agents)
        if self.transport_kind != "spade":
            raise ValueError(f"unknown transport {self.transport_kind!r} (inproc or spade)")
        from opstwin.agents.xmpp.transport import SpadeTransport

        try:
            return SpadeTransport(self.team.agents, self.scenario.agents, self.scenario.topology, self.scenario.tick,
                                  self.seed, processes=self.processes, xmpp=self.xmpp, **self.transport_options)
        except BaseException:
            self.log.close()
            if self.log_path is not None:
                self.log_path.unlink(missing_ok=True)
            raise

    @property
    def done(self) -> bool:
        """True once the scenario's duration is simulated (or the run was finished)."""
        return self.summary is not None or (self.started and self.twin.tick_count >= self.scenario.ticks)

    @property
    def tick(self) -> int:
        return self.twin.tick_count if self.twin else 0

    @property
    def now(self) -> float:
        """Sim seconds."""
        return self.twin.now if self.twin else 0.0

    def step(self) -> Frame:
        """Advance one tick: the twin, the monitors, then the clock's rounds for that tick."""
        if not self.started:
            self.start()
        if self.done:
            raise RuntimeError("the run is over: call finish()")
        frame = self.twin.advance()
        self.health.append(self.twin.health)
        if self.clock is not None:
            due = {m.name for m in self.team.monitors if m.observe(frame)}
            if self.team.control.has_pending():
                due.add(self.team.control.name)
            self.clock.tick(frame.tick, frame.t, due)
            fatal = getattr(self.clock.transport, "fatal", None)
            if fatal is not None:  # the transport lost agents the team cannot do without: end here, say so
                raise fatal
        for hook in self.frame_hooks:
            hook(self, frame)
        if self.twin.tick_count >= self.scenario.ticks:
            self.completed = True
        return frame

    def run(self) -> dict[str, Any]:
        """Step to the end and finish; returns the summary. An exception (or Ctrl-C) still finishes the log."""
        try:
            while not self.done:
                self.step()
        finally:
            self.finish()
        return self.summary

    def finish(self) -> dict[str, Any]:
        """Close the transport and the log (``run_finished``, or ``run_aborted`` if stopped early); the summary."""
        if self.summary is not None:
            return self.summary
        if not self.started:
            raise RuntimeError("the simulation was never started")
        try:
            if self.clock is not None:
                self.clock.transport.close()
        finally:
            self.log.emit(self.twin.now, "run_finished" if self.completed else "run_aborted",
                          ticks=self.twin.tick_count)
            self.log.close()
            release_built()  # the run's objects may become garbage now: back in the collector's sight
        self.summary = self._summarize(time.perf_counter() - self._t0)  # clock-ok
        return self.summary

    # ---------------------------------------------------------------- results
    def _summarize(self, wall: float) -> dict[str, Any]:
        from opstwin.evaluation.bidding import compute_bidding
        from opstwin.evaluation.metrics import compute

        h = np.array(self.health) if self.health else np.ones(1)
        sim = self.twin.now
        stepping = wall - self.startup_seconds
        summary: dict[str, Any] = {
            "scenario": self.scenario.name,
            "seed": self.seed,
            "completed": self.completed,
            "sim_seconds": sim,
            "wall_seconds": round(wall, 3),
            "startup_seconds": round(self.startup_seconds, 3),
            "speedup": round(sim / stepping, 1) if stepping > 0 else None,
            "ticks": self.twin.tick_count,
            "services": self.twin.topo.n_services,
            "agents": self.agents,
            "transport": self.transport_kind if self.agents else None,
            "processes": self.processes if self.agents else None,
            "xmpp_server": self._xmpp_kind(),
            "log_sha256": self.log.sha256,
            "events": len(self.log.events),
            "health": {"min": round(float(h.min()), 6), "mean": round(float(h.mean()), 6),
                       "final": round(float(h[-1]), 6)},
            "faults": self.faults.ground_truth(),
            "metrics": dict(self.faults.metrics()),
        }
        if self.agents:
            metrics, per_fault = compute(self.log.events, summary["faults"], self.twin.topo, self.scenario.duration,
                                         self.health, self.scenario.tick, per_fault=True)
            summary["metrics"].update(metrics)
            summary["metrics"].update(compute_bidding(
                self.log.events, [sp.name for sp in self.scenario.agents.specialists] if not self.scenario.agents.baseline
                else [], worker_profiles(self.scenario.agents), self.scenario.duration))
            summary["faults"] = [{**f, **row} for f, row in zip(summary["faults"], per_fault)]
            from opstwin.evaluation.metrics import llm_usage

            usage = llm_usage(self.log.events)
            if usage is not None:  # an LLM reasoner: its accounting beside the other metrics, its model apart
                model = usage.pop("model")
                summary["metrics"].update(usage)
                reasoner = self._reasoner()
                wall = getattr(reasoner, "wall_seconds", None)  # measured here (in-process only)
                summary["llm"] = {**model, "host": getattr(getattr(reasoner, "backend", None), "host", None),
                                  "wall_seconds": None if wall is None else round(wall, 3)}
            summary["messages"] = self.clock.messages
            summary["rounds"] = self.clock.rounds
            summary["agents_lost"] = [{"agent": e["agent"], "t": e["t"], "tick": e["tick"], "reason": e.get("reason", "")}
                                      for e in self.log.events if e["kind"] == "agent_lost"]
            if summary["agents_lost"]:  # what the team did not get to: every fault it did not mitigate
                summary["unhandled"] = [{"fault_id": f["id"], "type": f["type"], "target": f["target"]}
                                        for f in summary["faults"] if not f.get("mitigated")]
        return summary

    def _xmpp_kind(self) -> str | None:
        if not self.agents or self.transport_kind != "spade":
            return None
        return f"external {self.xmpp}" if self.xmpp else "embedded"

    def health_series(self) -> np.ndarray:
        """(t, H) per tick so far: sim seconds at the end of each tick and the twin's health."""
        t = np.arange(1, len(self.health) + 1) * self.scenario.tick
        return np.column_stack([t, self.health]) if self.health else np.zeros((0, 2))
