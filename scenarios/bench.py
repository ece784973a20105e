"""Benchmarks that print figures (never timed tests): `opstwin bench twin`."""

from __future__ import annotations

import time
from typing import Any, Callable

from twin.model import Twin
from twin.naive import NaiveTwin
from twin.spec import GenerateSpec, LoadSpec
from twin.synthetic import default_rps, generate


def bench_twin(services: int, hours: float, tick: float = 10.0, seed: int = 1, naive: bool = False,
               say: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """Run the twin alone on a synthetic topology; optionally the naive model too."""
    topology = generate(GenerateSpec(services=services), seed)
    load = LoadSpec(rps=default_rps(topology))
    duration = hours * 3600.0
    twin = Twin(topology, load, seed=seed, tick=tick)
    say(f"twin: {services} services, {hours:g} h at {tick:g} s ticks")
    start = time.perf_counter()  # clock-ok: benchmark
    twin.run(duration)
    wall = time.perf_counter() - start  # clock-ok
    result: dict[str, Any] = {
        "services": services, "ticks": twin.tick_count, "sim_seconds": twin.now, "wall_seconds": round(wall, 3),
        "speedup": round(twin.now / wall, 1), "ms_per_tick": round(wall / max(twin.tick_count, 1) * 1e3, 3),
    }
    if naive:
        say("naive: one SimPy process per service")
        model = NaiveTwin(topology, load, seed=seed, tick=tick)
        start = time.perf_counter()  # clock-ok
        model.run(duration)
        naive_wall = time.perf_counter() - start  # clock-ok
        result["naive_wall_seconds"] = round(naive_wall, 3)
        result["ratio"] = round(naive_wall / wall, 1)
    return result
