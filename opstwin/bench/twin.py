"""Benchmarks that print figures (never timed tests): `opstwin bench twin`.

Both benches drive the run engine (:class:`opstwin.engine.simulation.Simulation`) on a synthetic
scenario; only the naive comparison model keeps a loop of its own (it is what is compared against).
"""

from __future__ import annotations

import resource
import sys
import time
from typing import Any, Callable

from opstwin.bench.naive import NaiveTwin
from opstwin.twin.bulk import paused_gc
from opstwin.twin.spec import GenerateSpec
from opstwin.twin.synthetic import default_rps, generate


def fault_window(duration: float) -> tuple[float, float]:
    """When the bench's random faults may start: from an hour in (after the team's warm-up) to an
    hour before the end, so the team has time to act; a run shorter than two hours keeps its middle."""
    start = min(3600.0, duration / 2)
    return start, max(duration - 3600.0, (start + duration) / 2)


def agents_scenario(services: int, hours: float, tick: float, seed: int, faults_per_hour: float):
    """A synthetic scenario: the generated topology, seeded random faults of every type (none at rate 0),
    the default team. The generated spec goes into the scenario as it is (no dump and re-validation of
    100,000 services); the scenario's cross-checks still run."""
    with paused_gc():  # see twin/bulk.py
        return _scenario(services, hours, tick, seed, faults_per_hour)


def _scenario(services: int, hours: float, tick: float, seed: int, faults_per_hour: float):
    from opstwin.faults.catalog import CATALOG
    from opstwin.scenarios.loader import parse

    topology = generate(GenerateSpec(services=services), seed)
    duration = hours * 3600.0
    data = {
        "name": f"bench-{services}", "seed": seed, "duration": duration, "tick": tick,
        "topology": topology, "load": {"rps": default_rps(topology)},
    }
    if faults_per_hour > 0:
        start, end = fault_window(duration)
        data["faults"] = {"random": [{"rate_per_hour": faults_per_hour, "types": sorted(CATALOG),
                                      "window": {"start": start, "end": end}, "duration": 3600.0}]}
    return parse(data, "<bench>")


def peak_rss_mib() -> float:
    """This process's peak resident memory so far, MiB (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (2**20 if sys.platform == "darwin" else 2**10), 1)


def bench_agents(services: int, hours: float, tick: float = 10.0, seed: int = 1, faults_per_hour: float = 0.5,
                 say: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """Run twin + faults + the in-process team; report speed (set-up apart from ticks), peak memory and
    the team's metrics."""
    from opstwin.engine.runner import run

    say(f"twin + team: {services} services, {hours:g} h at {tick:g} s ticks, ~{faults_per_hour:g} faults/h")
    start = time.perf_counter()  # clock-ok: benchmark
    scenario = agents_scenario(services, hours, tick, seed, faults_per_hour)
    scenario_seconds = time.perf_counter() - start  # clock-ok
    summary = run(scenario, seed=seed, agents=True)
    m = summary["metrics"]
    ticking = summary["wall_seconds"] - summary["startup_seconds"]
    return {
        "services": services, "ticks": summary["ticks"], "sim_seconds": summary["sim_seconds"],
        "wall_seconds": summary["wall_seconds"], "speedup": summary["speedup"], "agents": True,
        "setup_seconds": round(scenario_seconds + summary["startup_seconds"], 3),
        "tick_seconds": round(ticking, 3), "ms_per_tick": round(ticking / max(summary["ticks"], 1) * 1e3, 3),
        "peak_rss_mib": peak_rss_mib(),
        "faults_injected": m["faults_injected"], "faults_resolved": m["faults_resolved"],
        "rca_ac1": m["rca_ac1"], "false_alerts_per_day": m["false_alerts_per_day"], "messages": m["messages"],
    }


def bench_twin(services: int, hours: float, tick: float = 10.0, seed: int = 1, naive: bool = False,
               say: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """Run the twin alone on a synthetic topology; optionally the naive model too."""
    from opstwin.engine.simulation import Simulation

    say(f"twin: {services} services, {hours:g} h at {tick:g} s ticks")
    start = time.perf_counter()  # clock-ok: benchmark
    scenario = agents_scenario(services, hours, tick, seed, faults_per_hour=0)
    sim = Simulation(scenario, seed=seed, agents=False).start()
    setup = time.perf_counter() - start  # clock-ok
    start, cpu_start = time.perf_counter(), time.process_time()  # clock-ok
    sim.run()
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start  # clock-ok
    twin = sim.twin
    result: dict[str, Any] = {
        "services": services, "ticks": twin.tick_count, "sim_seconds": twin.now, "wall_seconds": round(wall, 3),
        "speedup": round(twin.now / wall, 1), "ms_per_tick": round(wall / max(twin.tick_count, 1) * 1e3, 3),
        "setup_seconds": round(setup, 3), "cpu_seconds": round(cpu, 3), "peak_rss_mib": peak_rss_mib(),
    }
    if naive:
        say("naive: one SimPy process per service, the same per-service work in plain Python")
        model = NaiveTwin(scenario.topology, scenario.load, seed=seed, tick=tick, telemetry=scenario.telemetry)
        start, cpu_start = time.perf_counter(), time.process_time()  # clock-ok
        model.run(scenario.duration)
        naive_wall, naive_cpu = time.perf_counter() - start, time.process_time() - cpu_start  # clock-ok
        result["naive_wall_seconds"] = round(naive_wall, 3)
        result["naive_cpu_seconds"] = round(naive_cpu, 3)
        result["ratio"] = round(naive_wall / wall, 1)
        # CPU seconds: on a machine shared with other work the wall ratio drifts with the load, this does not
        result["cpu_ratio"] = round(naive_cpu / max(cpu, 1e-9), 1)
    return result
