"""Running one scenario: twin (+ faults, + agents as they land), an incident log, a summary.

``run()`` is what ``opstwin run`` calls; it is plain Python so tests, ``eval`` and the viz page
call it too. The incident log is written as events happen; the summary at the end. Wall-clock
time is measured here only to report speed; it never feeds a decision.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from opstwin.agents.bus import Clock, InProcTransport
from opstwin.agents.team import build_team
from opstwin.faults.injector import Injector
from opstwin.evaluation.metrics import compute as compute_metrics
from opstwin.scenarios.schema import Scenario
from opstwin.twin.control import ActionPort, ControlPlane
from opstwin.twin.eventlog import EventLog
from opstwin.twin.model import Twin


@dataclass(frozen=True)
class TickView:
    """What a progress callback is shown each tick: where the run is and the ground-truth health H
    (H is the experimenter's, not telemetry: frames no longer carry it)."""

    tick: int
    t: float
    health: float


Progress = Callable[[TickView, Scenario], None]


@dataclass
class Run:
    """Everything a run is made of, so hooks (faults, agents, the page) can reach it."""

    scenario: Scenario
    seed: int
    twin: Twin
    control: ControlPlane
    log: EventLog
    health: list[float] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)
    faults: Injector | None = None  # the fault injector and its ground truth


def build(scenario: Scenario, seed: int | None = None, log_path: Path | None = None) -> Run:
    seed = scenario.seed if seed is None else seed
    log = EventLog(log_path)
    twin = Twin(scenario.topology, scenario.load, scenario.deployments, seed=seed, tick=scenario.tick, log=log)
    run = Run(scenario, seed, twin, ControlPlane(twin), log)
    run.faults = Injector(twin, run.control, scenario.faults, seed=seed, duration=scenario.duration)
    log.emit(0.0, "run_started", scenario=scenario.name, seed=seed, services=twin.topo.n_services,
             hosts=len(twin.topo.hosts), duration=scenario.duration, tick=scenario.tick)
    return run


def run(
    scenario: Scenario,
    *,
    seed: int | None = None,
    out: Path | str | None = None,
    agents: bool = False,
    progress: Progress | None = None,
    transport: str = "inproc",
    processes: int = 1,
    xmpp: str | None = None,
    transport_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run `scenario` to its duration; write incidents.jsonl and summary.json into `out`.

    `transport` is ``inproc`` (agents called directly) or ``spade`` (SPADE agents over XMPP:
    the embedded server, or the server at `xmpp` HOST[:PORT]; `processes` OS processes).
    """
    out_dir = Path(out) if out else None
    if out_dir:
        out_dir.mkdir(parents=True, exist_ok=True)
    r = build(scenario, seed, out_dir / "incidents.jsonl" if out_dir else None)
    team = clock = None
    if agents:
        team = build_team(scenario.agents, r.twin.topo, r.twin.slo.copy(), scenario.tick, ActionPort(r.control), r.seed)
        clock = Clock(_transport(r, team, transport, processes, xmpp, transport_options,
                                      out_dir / "incidents.jsonl" if out_dir else None), team.names, r.log)
        r.extras["clock"] = clock
    started = time.perf_counter()  # clock-ok: reported, never decided on
    completed = False
    try:
        while r.twin.tick_count < scenario.ticks:
            frame = r.twin.advance()
            r.health.append(r.twin.health)
            if clock is not None:
                due = {m.name for m in team.monitors if m.observe(frame)}
                if team.control.has_pending():
                    due.add(team.control.name)
                clock.tick(frame.tick, frame.t, due)
            if progress:
                progress(TickView(frame.tick, frame.t, r.twin.health), scenario)
        completed = True
    finally:
        wall = time.perf_counter() - started  # clock-ok
        if clock is not None:
            clock.transport.close()
        # an interrupted run keeps its log, and says it stopped early
        r.log.emit(r.twin.now, "run_finished" if completed else "run_aborted", ticks=r.twin.tick_count)
        r.log.close()
    summary = summarize(r, wall)
    if agents:
        summary["metrics"].update(compute_metrics(r.log.events, summary["faults"], r.twin.topo, scenario.duration,
                                                  r.health, scenario.tick))
        summary["messages"] = clock.messages
        summary["rounds"] = clock.rounds
    if out_dir:
        (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
        np.savetxt(out_dir / "health.csv", np.column_stack([np.arange(1, len(r.health) + 1) * scenario.tick, r.health]),
                   delimiter=",", header="t,health", comments="", fmt=["%.1f", "%.6f"])
    return summary


def _transport(r: Run, team, kind: str, processes: int, xmpp: str | None, options: dict[str, Any] | None,
               log_path: Path | None):
    """The agents' transport; if an XMPP one cannot start, nothing of the run is left on disk."""
    if kind == "inproc":
        return InProcTransport(team.agents)
    from opstwin.agents.xmpp.transport import SpadeTransport

    try:
        return SpadeTransport(team.agents, r.scenario.agents, r.scenario.topology, r.scenario.tick, r.seed,
                              processes=processes, xmpp=xmpp, **(options or {}))
    except BaseException:
        r.log.close()
        if log_path is not None:
            log_path.unlink(missing_ok=True)
        raise


def summarize(r: Run, wall: float) -> dict[str, Any]:
    h = np.array(r.health) if r.health else np.ones(1)
    sim = r.twin.now
    return {
        "scenario": r.scenario.name,
        "seed": r.seed,
        "sim_seconds": sim,
        "wall_seconds": round(wall, 3),
        "speedup": round(sim / wall, 1) if wall > 0 else None,
        "ticks": r.twin.tick_count,
        "services": r.twin.topo.n_services,
        "log_sha256": r.log.sha256,
        "events": len(r.log.events),
        "health": {"min": round(float(h.min()), 6), "mean": round(float(h.mean()), 6), "final": round(float(h[-1]), 6)},
        "faults": r.faults.ground_truth() if r.faults else [],
        "metrics": dict(r.faults.metrics()) if r.faults else {},
        **{k: v for k, v in r.extras.items() if k.startswith("summary_")},
    }
