"""The marketplace as the team grows: MTTR and auction overhead for 4 -> 16 -> 64 specialists.

Each size n runs the library's ``contention-drill`` estate with a team of n specialists whose true
speed and success per category are drawn from a generator seeded by (seed, n): categories go round
robin (a quarter of the team each, a fifth of them with a second category), speed log-uniform in
[0.4, 2], success uniform in [0.6, 0.98]. Incidents per hour rise with the team: ``rate x n / 16``
random faults an hour (capped at 24), so a bigger team faces more concurrent work. Every size runs
each bidding policy on the same seeds; the figures are what the eval's bidding metrics say
(:mod:`opstwin.evaluation.bidding`).
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

from opstwin.agents.spec import CATEGORIES, SpecialistSpec
from opstwin.engine.simulation import Simulation
from opstwin.scenarios.library import resolve
from opstwin.scenarios.loader import load
from opstwin.scenarios.schema import Scenario
from opstwin.twin.rng import generator


def team(n: int, seed: int, policy: str, history: int = 0) -> list[SpecialistSpec]:
    """n specialists of drawn quality (module docstring), all bidding with `policy`, each with a record of
    `history` past results."""
    rng = generator(seed, "bench-bidding", str(n))
    out = []
    for k in range(n):
        cats = [CATEGORIES[k % len(CATEGORIES)]]
        if rng.random() < 0.2:
            cats.append(CATEGORIES[(k + 1 + int(rng.integers(len(CATEGORIES) - 1))) % len(CATEGORIES)])
        skills = {c: {"speed": round(float(np.exp(rng.uniform(np.log(0.4), np.log(2.0)))), 3),
                      "success": round(float(rng.uniform(0.6, 0.98)), 3)} for c in cats}
        out.append(SpecialistSpec.model_validate({"name": f"sp-{k:02d}", "skills": skills, "policy": policy,
                                                       "history": history}))
    return out


def scenario_for(base: Scenario, n: int, seed: int, policy: str, rate: float, history: int = 0) -> Scenario:
    s = base.model_copy(deep=True)
    s.agents.specialists = team(n, seed, policy, history)
    s.faults.random[0].rate_per_hour = min(24.0, rate * n / 16)
    return s


def bench_bidding(sizes: list[int], seeds: list[int], policies: list[str], rate: float = 8.0, history: int = 0,
                  say: Callable[[str], None] = print) -> dict[str, Any]:
    """Rows of (size, policy) with mean MTTR, bidding metrics and wall seconds over `seeds`."""
    base = load(resolve("contention-drill"))
    rows = []
    for n in sizes:
        for policy in policies:
            runs = []
            t0 = time.perf_counter()  # clock-ok: a bench figure
            for seed in seeds:
                m = Simulation(scenario_for(base, n, seed, policy, rate, history), seed=seed).run()["metrics"]
                runs.append(m)
            wall = time.perf_counter() - t0  # clock-ok

            def mean(key: str) -> float | None:
                xs = [m[key] for m in runs if m.get(key) is not None]
                return round(float(np.mean(xs)), 3) if xs else None

            row = {"specialists": n, "policy": policy, "faults_per_hour": min(24.0, rate * n / 16),
                   "faults": sum(m["faults_injected"] for m in runs), "mttr_mean_s": mean("mttr_mean_s"),
                   "mitigation_success_rate": mean("mitigation_success_rate"),
                   "allocation_efficiency": mean("allocation_efficiency"), "load_fairness": mean("load_fairness"),
                   "bids_per_task": mean("bids_per_task"), "auction_messages_per_task": mean("auction_messages_per_task"),
                   "messages_per_task": mean("messages_per_task"), "wall_seconds_per_run": round(wall / len(seeds), 2)}
            say(" ".join(f"{k}={v}" for k, v in row.items()))
            rows.append(row)
    return {"seeds": seeds, "history": history, "rows": rows}
