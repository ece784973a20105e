"""``run()``: one scenario to its end, with its files. A thin loop over the engine.

What ``opstwin run`` calls, and tests and benches too. The run itself is a
:class:`~opstwin.engine.simulation.Simulation`; this module adds the output folder: the incident
log (written as events happen, kept if the run is interrupted), ``summary.json`` and
``health.csv`` at the end.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from opstwin.engine.simulation import FrameHook, Simulation, TransportFactory
from opstwin.scenarios.schema import Scenario


@dataclass(frozen=True)
class TickView:
    """What a progress callback is shown each tick: where the run is and the ground-truth health H
    (H is the experimenter's, not telemetry: frames do not carry it)."""

    tick: int
    t: float
    health: float


Progress = Callable[[TickView, Scenario], None]


def execute(
    scenario: Scenario,
    *,
    seed: int | None = None,
    out: Path | str | None = None,
    agents: bool = False,
    on_frame: FrameHook | None = None,
    progress: Progress | None = None,
    on_start: Callable[[Simulation], None] | None = None,
    transport: str | TransportFactory = "inproc",
    processes: int = 1,
    xmpp: str | None = None,
    transport_options: dict[str, Any] | None = None,
    record_series: bool = False,
) -> Simulation:
    """Run `scenario` to its duration and return the finished simulation (summary, health series, events).

    `transport` is ``inproc`` (agents called directly) or ``spade`` (SPADE agents over XMPP:
    the embedded server, or the server at `xmpp` HOST[:PORT]; `processes` OS processes).
    `on_start(sim)` is called once the sim is built, before its first tick; `on_frame(sim, frame)`
    after every tick; `progress(TickView, scenario)` too (for live displays). `record_series` also
    writes the telemetry series and log lines into `out` (:mod:`opstwin.engine.series`, for RCA).
    """
    out_dir = Path(out) if out else None
    if out_dir:
        out_dir.mkdir(parents=True, exist_ok=True)
    sim = Simulation(scenario, seed=seed, agents=agents, transport=transport, processes=processes, xmpp=xmpp,
                     transport_options=transport_options, log_path=out_dir / "incidents.jsonl" if out_dir else None)
    recorder = None
    if record_series and out_dir:
        from opstwin.engine.series import SeriesRecorder

        recorder = sim.on_frame(SeriesRecorder(scenario.ticks))
    if on_frame:
        sim.on_frame(on_frame)
    if progress:
        sim.on_frame(lambda s, frame: progress(TickView(frame.tick, frame.t, s.health[-1]), scenario))
    sim.start()
    if on_start:
        on_start(sim)
    try:
        sim.run()
    except Exception:  # e.g. the team lost agents it cannot do without: the summary says what happened
        if out_dir and sim.summary is not None:
            write_outputs(sim, out_dir, recorder)
        raise
    if out_dir:
        write_outputs(sim, out_dir, recorder)
    return sim


def run(scenario: Scenario, **kwargs: Any) -> dict[str, Any]:
    """Like :func:`execute`, returning only the summary (what summary.json holds)."""
    return execute(scenario, **kwargs).summary


def write_outputs(sim: Simulation, out_dir: Path, recorder: Any = None) -> None:
    """summary.json and health.csv beside the incident log (and the recorded series, if any; an earlier
    run's series in the folder are removed, so they can never pass for this run's)."""
    if recorder is not None:
        recorder.save(out_dir)
    else:
        from opstwin.engine.series import LOGS_FILE, SERIES_FILE

        for name in (SERIES_FILE, LOGS_FILE):
            (out_dir / name).unlink(missing_ok=True)
    (out_dir / "summary.json").write_text(json.dumps(sim.summary, indent=2, sort_keys=True) + "\n")
    np.savetxt(out_dir / "health.csv", sim.health_series(), delimiter=",", header="t,health", comments="",
               fmt=["%.1f", "%.6f"])
