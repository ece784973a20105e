"""`opstwin bench xmpp`: what carrying the agents over XMPP costs, on one scenario.

Runs the scenario twice with the same seed, in-process and as SPADE agents spread over
`processes` OS processes on the embedded XMPP server (or `xmpp`), checks that both incident
logs are identical, and reports:

- ``ratio``: total wall time of the XMPP run (server start, logins, workers included) over the
  in-process run's;
- ``round_overhead_ms``: the XMPP cost of one superstep round: time in rounds over XMPP minus
  time in the same rounds in-process, per round;
- ``messages_per_second``: XMPP stanzas (agent messages, round starts, round dones) per second
  spent in rounds.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from opstwin.agents.bus import InProcTransport
from opstwin.engine.runner import run
from opstwin.scenarios.schema import Scenario


def default_scenario() -> Path:
    """The library's storm: many concurrent incidents, so many rounds to time."""
    from opstwin.scenarios import library

    return library.files()["storm"]


class _Timed(InProcTransport):
    """InProcTransport that adds up the time spent in rounds."""

    seconds = 0.0
    rounds = 0

    def run_round(self, *args):
        t0 = time.perf_counter()  # clock-ok: benchmark
        try:
            return super().run_round(*args)
        finally:
            _Timed.seconds += time.perf_counter() - t0  # clock-ok
            _Timed.rounds += 1


def bench_xmpp(scenario: Scenario, seed: int | None = None, processes: int = 3, xmpp: str | None = None,
               say: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    say(f"{scenario.name}: inproc")
    _Timed.seconds, _Timed.rounds = 0.0, 0
    t0 = time.perf_counter()  # clock-ok: benchmark
    a = run(scenario, seed=seed, agents=True, transport=_Timed)
    inproc_wall = time.perf_counter() - t0  # clock-ok
    say(f"{scenario.name}: spade, {processes} processes ({a['rounds']} rounds, {a['messages']} messages)")
    stats: dict[str, Any] = {}
    t0 = time.perf_counter()  # clock-ok
    b = run(scenario, seed=seed, agents=True, transport="spade", processes=processes, xmpp=xmpp,
            transport_options={"stats": stats})
    spade_wall = time.perf_counter() - t0  # clock-ok
    rounds = max(stats.get("rounds", 0), 1)
    in_rounds = stats.get("round_seconds", 0.0)
    stanzas = stats.get("stanzas", 0) + b["messages"]
    return {
        "scenario": scenario.name,
        "seed": a["seed"],
        "processes": processes,
        "server": xmpp or "embedded",
        "rounds": stats.get("rounds", 0),
        "messages": b["messages"],
        "identical": a["log_sha256"] == b["log_sha256"],
        "log_sha256": b["log_sha256"],
        "inproc_seconds": round(inproc_wall, 3),
        "spade_seconds": round(spade_wall, 3),
        "messages_per_second": round(stanzas / in_rounds, 1) if in_rounds > 0 else None,
        "round_overhead_ms": round((in_rounds - _Timed.seconds) / rounds * 1e3, 3),
        "ratio": round(spade_wall / inproc_wall, 3),
    }
