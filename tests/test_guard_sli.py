"""The guard's TNR check measures an SLI of the action's blast radius from the monitors' telemetry.

The scope of an action is the target's services and their callers; a monitor answers an
``sli_query`` with the objectives (up, errors, p99) those services of its shard meet. So a fault
elsewhere during the settle time does not get a correct fix undone, while a harmful action in
scope still is (tests/test_team.py has the harmful scale-down).
"""

from __future__ import annotations

import copy
import json

import numpy as np

from opstwin.agents.base import Context
from opstwin.agents.guard import blast_radius, own_services
from opstwin.agents.messages import Sli, make
from opstwin.agents.monitor import Monitor
from opstwin.agents.spec import MonitorSpec
from opstwin.engine.runner import run
from opstwin.scenarios.loader import parse
from opstwin.twin.topology import Topology

from test_team import CLOUD


def test_the_blast_radius_is_the_targets_services_their_callers_and_dependencies(small_topology):
    topo = Topology.build(small_topology)
    assert blast_radius(topo, "db") == ["api", "db", "web"]
    assert blast_radius(topo, "web") == ["api", "db", "web"]  # a rate limit at the edge helps what it calls
    assert blast_radius(topo, "h2") == ["api", "db", "web"]  # services on the host, then callers
    assert blast_radius(topo, "db", cap=2) == ["api", "db"]  # nearest first
    assert own_services(topo, "h2") == ["api", "db"] and own_services(topo, "web") == ["web"]
    assert blast_radius(topo, "nowhere") == []


def _monitor(twin, shard: int = 0, shards: int = 1) -> Monitor:
    n = twin.topo.n_services
    return Monitor(f"monitor-{shard}", 1, twin.topo, twin.slo.copy(), twin.tick_seconds, np.arange(shard, n, shards),
                   np.arange(0), np.arange(0), MonitorSpec(detector="threshold"), warmup=60.0)


def test_a_monitor_answers_an_sli_query_with_the_objectives_its_shard_meets(make_twin):
    twin = make_twin()
    mons = [_monitor(twin, k, 2) for k in range(2)]  # web, db | api
    for _ in range(10):
        frame = twin.advance()
        for m in mons:
            m.observe(frame)
    assert [m.sli(["web", "api", "db", "unknown"]) for m in mons] == [(6, 6), (3, 3)]
    twin.effects.set("test", "svc_down", twin.topo.index("db"), 1.0)  # db down: api and web fail too
    frame = twin.advance()
    for m in mons:
        m.observe(frame)
    assert mons[0].sli(["db"]) == (0, 3)  # down, failing, and p99 at the callers' timeout
    assert mons[0].sli(["web"])[0] < 3 and mons[1].sli(["api"])[0] < 3
    query = make("query-ref", "sli_query", "guard", "monitor-0", "guard-11-1", {"task": "t1", "services": ["db"]},
                 11, 0, 1)
    ctx = Context("monitor-0", 11, 1, 110.0, 0)
    mons[0].step(ctx, [query])
    (answer,) = [m for m in ctx.outbox if m.kind == "sli"]
    assert answer.performative == "inform" and answer.conversation == "guard-11-1" and answer.receiver == "guard"
    assert answer.parsed() == Sli(task="t1", good=0, total=3)


def test_the_objectives_of_a_recent_tick_are_those_worked_out_at_that_tick(make_twin):
    """The guard asks how things stood a few ticks ago; a monitor keeps that tick's frame arrays and works the
    objectives out only when asked. They must be what objectives() gave at that tick: through the warm-up
    (a limit from the running baseline), the fit, a service going down and coming back, both shard layouts."""
    from opstwin.agents.monitor import SLI_HISTORY

    twin = make_twin()
    mons = [_monitor(twin, k, 2) for k in range(2)] + [_monitor(twin)]  # index-array shards and a slice
    db = twin.topo.index("db")
    then: list[list[np.ndarray]] = [[] for _ in mons]
    for tick in range(1, 21):
        if tick == 12:
            twin.effects.set("test", "svc_down", db, 1.0)
        if tick == 15:
            twin.effects.set("test", "svc_down", db, 0.0)
        frame = twin.advance()
        for m, kept in zip(mons, then):
            m.observe(frame)
            kept.append(m.objectives().copy())
            for back in range(SLI_HISTORY):
                if frame.tick - back >= 1:
                    assert np.array_equal(m._objectives_at(frame.tick - back), kept[frame.tick - back - 1])
            assert m._objectives_at(frame.tick - SLI_HISTORY).all()  # too old: counted as met
    assert not then[2][12].all() and then[2][19].all() and mons[2].fitted  # the fault showed, and cleared


def test_the_latency_rule_smooths_p99_as_its_definition_says():
    """The smoothed p99/SLO follows a sample back within SLO and under the average at once and smooths the
    rest (an EWMA): worked out without np.where, it must be the definition's value bit for bit, through
    telemetry noise and faults pushing p99 over SLO."""
    from opstwin.agents.monitor import LATENCY_SMOOTHING
    from opstwin.bench.twin import agents_scenario
    from opstwin.engine.simulation import Simulation

    sim = Simulation(agents_scenario(100, 2, 10.0, 1, 6.0), seed=1, agents=True).start()
    (m,) = sim.team.monitors
    want, falling = None, 0
    while not sim.done:
        sim.step()
        if m._lat_ewma is None:
            continue
        raw = m._X[1]
        if want is None:
            want = raw.copy()
        falling += int(((raw > 1.0) & (raw < want)).sum())  # over SLO and falling: smoothed, not followed
        smooth = want + LATENCY_SMOOTHING * (raw - want)
        want = np.where((raw <= 1.0) & (raw < want), raw, smooth)
        assert np.array_equal(m._lat_ewma, want)
    assert falling > 0


def _two_branches(faults: list[dict]):
    """The team-test cloud plus an independent branch (batch -> queue) that users also call."""
    data = copy.deepcopy(CLOUD)
    data["topology"]["hosts"].append({"name": "h4"})
    data["topology"]["services"] += [
        {"name": "batch", "host": "h4", "entry": True, "replicas": 2, "depends_on": ["queue"]},
        {"name": "queue", "host": "h4", "replicas": 2},
    ]
    data["faults"] = {"scheduled": faults}
    return parse(data)


def _events(out):
    return [json.loads(line) for line in (out / "incidents.jsonl").read_text().splitlines()]


def test_a_fault_elsewhere_during_settle_does_not_undo_a_correct_fix(tmp_path):
    leak = {"type": "memory_leak", "target": "api", "at": "1h"}
    alone = run(_two_branches([leak]), seed=1, out=tmp_path / "alone", agents=True)
    fix = alone["faults"][0]["resolved_by"]
    fixed_at = next(e["t"] for e in _events(tmp_path / "alone") if e["kind"] == "action_succeeded"
                    and e["action_id"] == fix)
    # the queue fails 20 s after the fix, inside the guard's 120 s settle time: users' health drops
    outage = {"type": "dependency_outage", "target": "queue", "at": f"{int(fixed_at) + 20}s", "duration": "10m"}
    both = run(_two_branches([leak, outage]), seed=1, out=tmp_path / "both", agents=True)
    ev = _events(tmp_path / "both")
    assert both["faults"][0]["resolved_by"] == fix
    # judged ok, or not judged at all because its incident resolved first (an undo would reopen the leak)
    ok = next(e for e in ev if e["kind"] in ("tnr_ok", "tnr_resolved") and e["target"] == "api")
    assert ok["kind"] == "tnr_resolved" or ok["after"] >= ok["before"]
    assert not [e for e in ev if e["kind"] == "action_undone" and e["action_id"] == fix]
    health = np.loadtxt(tmp_path / "both" / "health.csv", delimiter=",", skiprows=1)
    during = health[(health[:, 0] > fixed_at + 20) & (health[:, 0] <= fixed_at + 120), 1]
    assert during.min() < 0.9, "ground-truth health fell during the settle time (an H-based check would undo)"
