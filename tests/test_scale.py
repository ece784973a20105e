"""What 100,000 services rest on, checked small: each fast structure gives what the plain one did.

The sparse partition cuts what a dense hosts x hosts table cut; the compiled topology is the one
networkx's lexicographical topological sort gave; host partners are those a scan of every host
found; generated specs validate to themselves; the monitor's features are the gathered ones.
(Speed itself is measured by `opstwin bench twin`, never in a test.)
"""

from __future__ import annotations

import gc
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from opstwin.agents.monitor import _selector
from opstwin.faults.spec import parse_fault
from opstwin.faults.targets import Names
from opstwin.scenarios.loader import load
from opstwin.twin import dag
from opstwin.twin.bulk import paused_gc
from opstwin.twin.model import Twin
from opstwin.twin.spec import Calls, GenerateSpec, LoadSpec, TopologySpec, reference_errors
from opstwin.twin.synthetic import default_rps, generate
from opstwin.twin.topology import Topology

LIBRARY = Path(__file__).resolve().parents[1] / "scenarios"


def reference_build(spec: TopologySpec) -> tuple[list[str], list[tuple[int, int]], np.ndarray, np.ndarray]:
    """Services, levels and padded dependency tables as the original networkx-based build made them."""
    specs = {s.name: s for s in spec.services}
    graph = nx.DiGraph()
    graph.add_nodes_from(specs)
    for s in spec.services:
        for d in s.dependencies():
            graph.add_edge(s.name, d.service, calls=d.calls)
    order = {s.name: i for i, s in enumerate(spec.services)}
    level: dict[str, int] = {}
    for name in nx.lexicographical_topological_sort(graph, key=order.__getitem__):
        parents = list(graph.predecessors(name))
        level[name] = 1 + max(level[p] for p in parents) if parents else 0
    services = sorted(specs, key=lambda n: (level[n], order[n]))
    idx = {n: i for i, n in enumerate(services)}
    levels, start = [], 0
    for lv in range(max(level.values()) + 1):
        size = sum(1 for s in services if level[s] == lv)
        levels.append((start, start + size))
        start += size
    n = len(services)
    width = max((graph.out_degree(s) for s in services), default=0) or 1
    dep_pad = np.full((n, width), n, dtype=np.int64)
    calls_pad = np.zeros((n, width))
    for i, s in enumerate(services):
        for k, d in enumerate(sorted(graph.successors(s), key=idx.__getitem__)):
            dep_pad[i, k], calls_pad[i, k] = idx[d], graph.edges[s, d]["calls"]
    return services, levels, dep_pad, calls_pad


def topologies() -> list[TopologySpec]:
    library = [load(LIBRARY / f"{name}.yaml").topology for name in ("ehr", "storm", "datacenter", "cascade")]
    generated = [generate(GenerateSpec(services=n, layers=layers), seed) for n, layers, seed in
                 ((2, 2, 1), (57, 4, 2), (400, 6, 3), (300, 12, 4))]
    return library + generated


@pytest.mark.parametrize("spec", topologies(), ids=lambda s: f"{len(s.services)}-services")
def test_the_compiled_topology_is_the_one_the_networkx_build_gave(spec):
    topo = Topology.build(spec)
    services, levels, dep_pad, calls_pad = reference_build(spec)
    assert topo.services == services and topo.levels == levels
    assert np.array_equal(topo.dep_pad, dep_pad) and np.array_equal(topo.calls_pad, calls_pad)
    for host in topo.hosts:
        assert topo.services_on_host(host) == [s for s in services if topo.service_spec(s).host == host]
    for disk in topo.disks:
        assert topo.services_on_disk(disk) == [s for s in services if topo.service_spec(s).disk == disk]
    assert sorted(topo.graph.edges) == sorted((s.name, d.service) for s in spec.services for d in s.dependencies())


@pytest.mark.parametrize("spec", topologies(), ids=lambda s: f"{len(s.services)}-services")
def test_call_graph_questions_answered_from_arrays_are_networkx_answers(spec):
    """The team asks the compiled topology (no graph built at 100,000 services): the same answers."""
    topo = Topology.build(spec)
    graph = topo.graph
    picks = topo.services[:: max(1, len(topo.services) // 40)]
    for s in picks:
        assert topo.is_service(s) and not topo.is_service(s + "-nope")
        assert topo.ancestors(s) == nx.ancestors(graph, s) and topo.descendants(s) == nx.descendants(graph, s)
        assert topo.dependents(s) == sorted(graph.predecessors(s))
        assert topo.dependencies(s) == sorted(graph.successors(s))
    idx = [topo.index(s) for s in picks[:5]]
    expect = set().union(*(nx.ancestors(graph, s) for s in picks[:5]))
    assert {topo.services[i] for i in topo.upstream(idx)} == expect


def test_levels_are_longest_call_paths_and_a_cycle_is_none():
    # 0 -> 1 -> 2 and 0 -> 2: 2 is two calls deep
    assert dag.levels(3, np.array([0, 1, 0]), np.array([1, 2, 2])).tolist() == [0, 1, 2]
    assert dag.levels(3, np.array([0, 1, 2]), np.array([1, 2, 1])) is None
    assert dag.levels(2, np.zeros(0, np.int64), np.zeros(0, np.int64)).tolist() == [0, 0]


def test_a_cycle_is_still_named_by_path():
    spec = TopologySpec.model_validate({"hosts": [{"name": "h"}], "services": [
        {"name": "a", "host": "h", "depends_on": ["b"]}, {"name": "b", "host": "h", "depends_on": ["c"]},
        {"name": "c", "host": "h", "depends_on": ["a"]}, {"name": "d", "host": "h"}]})
    [(path, message)] = reference_errors(spec)
    assert "dependency cycle" in message and all(n in message for n in "abc") and path.endswith(".depends_on")


def brute_force_cut(twin: Twin, pairs: set[tuple[int, int]]) -> np.ndarray:
    """The services that call across a cut pair, from a dense hosts x hosts table (the old way)."""
    h, n = len(twin.topo.hosts), twin.topo.n_services
    table = np.zeros((h, h))
    for a, b in pairs:
        table[a, b] = 1.0
    dep = twin.topo.dep_pad
    cut = (table[twin.svc_host[:, None], np.append(twin.svc_host, 0)[dep]] > 0) & (dep < n)
    return np.flatnonzero(cut.any(axis=1))


def test_a_partition_is_sparse_and_cuts_what_a_dense_table_cut():
    spec = generate(GenerateSpec(services=400, hosts=40), seed=5)
    twin = Twin(spec, LoadSpec(rps=default_rps(spec)), seed=5)
    h = len(twin.topo.hosts)
    assert not any(isinstance(v, np.ndarray) and v.size >= h * h for v in vars(twin).values())  # no hosts^2 array
    names = Names(spec)
    pairs: set[tuple[int, int]] = set()
    for k, host in enumerate(["host-3", "host-17"]):
        peer = names.partners(host)[0]
        twin.effects.set(f"f{k}", "partition", twin.topo.host_index(host) * h + twin.topo.host_index(peer), 1.0)
        twin.effects.set(f"f{k}", "partition", twin.topo.host_index(peer) * h + twin.topo.host_index(host), 1.0)
        pairs |= {(twin.topo.host_index(host), twin.topo.host_index(peer)),
                  (twin.topo.host_index(peer), twin.topo.host_index(host))}
    keys = [a * h + b for a, b in pairs]
    assert sorted(twin.effects.bent("partition")) == sorted(keys)
    expected = brute_force_cut(twin, pairs)
    assert len(expected) and np.array_equal(twin.partitioned(keys), expected)
    twin.advance()
    assert np.all(twin.truth.error[expected] > 0.999)  # a cut caller fails every request
    # a migration moves a caller out of the cut; the grouping follows it
    moved = int(expected[0])
    twin.place(moved, next(x for x in range(h) if all(x not in p for p in pairs)))
    assert np.array_equal(twin.partitioned(keys), brute_force_cut(twin, pairs))
    twin.effects.clear("f0")
    twin.effects.clear("f1")
    assert twin.effects.bent("partition") == {} and not twin.effects.active("partition")


def test_a_partition_fault_cuts_the_callers_across_it():
    spec = generate(GenerateSpec(services=200, hosts=20), seed=2)
    twin = Twin(spec, LoadSpec(rps=default_rps(spec)), seed=2)
    from opstwin.faults.injector import Injector

    injector = Injector(twin)
    peer = Names(spec).partners("host-4")[0]
    fault = injector.inject(parse_fault({"type": "network_partition", "target": "host-4", "peer": peer, "at": 0}))
    a, b = twin.topo.host_index("host-4"), twin.topo.host_index(peer)
    assert np.array_equal(np.array(sorted(fault._callers)), brute_force_cut(twin, {(a, b), (b, a)}))


def test_partners_and_candidates_are_what_a_scan_of_every_host_found():
    spec = generate(GenerateSpec(services=300, hosts=30), seed=4)
    names = Names(spec)
    host_of = {s.name: s.host for s in spec.services}
    links: dict[str, set[str]] = {}
    for s in spec.services:
        for d in s.dependencies():
            a, b = host_of[s.name], host_of[d.service]
            if a != b:
                links.setdefault(a, set()).add(b)
                links.setdefault(b, set()).add(a)
    hosts = [h.name for h in spec.hosts]
    for host in hosts:
        assert names.partners(host) == [h for h in hosts if h in links.get(host, set())]
    assert names.candidates("network_partition") == [h for h in hosts if links.get(h)]
    assert names.candidates("network_partition", ["host-1", "host-2"]) == [h for h in ["host-1", "host-2"] if links.get(h)]
    assert names.partners("no-such-host") == []


def test_generated_specs_validate_to_themselves_and_default_rps_matches_the_level_flow():
    spec = generate(GenerateSpec(services=500), seed=9)
    assert TopologySpec.model_validate(spec.model_dump()) == spec
    assert reference_errors(spec) == []
    topo = Topology.build(spec)
    rate = (topo.entry / topo.entry.sum()).astype(float)
    for (a, b), fwd in zip(topo.levels[1:], topo.forward[1:]):
        rate[a:b] += fwd @ rate[:a]
    cap = np.array([topo.service_spec(s).capacity * topo.service_spec(s).replicas for s in topo.services])
    assert default_rps(spec) == pytest.approx(float(0.4 / np.max(rate / cap)), rel=1e-12)


def test_a_shard_is_read_through_a_slice():
    assert _selector(np.arange(0, 10, 3)) == slice(0, 10, 3)
    assert _selector(np.arange(5)) == slice(0, 5, 1)
    assert _selector(np.array([7])) == slice(7, 8, 1)
    assert isinstance(_selector(np.array([1, 2, 4])), np.ndarray)
    assert len(_selector(np.zeros(0, dtype=np.int64))) == 0


def test_the_gc_pause_is_restored_even_when_the_build_fails():
    assert gc.isenabled()
    gc.unfreeze()
    with pytest.raises(RuntimeError), paused_gc():
        assert not gc.isenabled()
        raise RuntimeError("bad spec")
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0  # a failed build is garbage: nothing is frozen


def test_a_run_freezes_what_it_built_and_hands_it_back_when_it_finishes():
    from opstwin.engine.simulation import Simulation

    gc.unfreeze()
    sim = Simulation(load(LIBRARY / "cascade.yaml"), seed=1, agents=False).start()
    assert gc.isenabled() and gc.get_freeze_count() > 0  # the estate is out of the collector's sight
    sim.finish()
    assert gc.get_freeze_count() == 0  # ... until the run is over: its cycles can be collected again


def test_a_specs_calls_are_walked_once_and_a_changed_spec_is_walked_again():
    spec = generate(GenerateSpec(services=200), seed=3)
    calls = Calls.of(spec)
    assert Calls.of(spec) is calls
    walked = [(i, d.service, d.calls) for i, s in enumerate(spec.services) for d in s.dependencies()]
    index = {s.name: i for i, s in enumerate(spec.services)}
    assert list(zip(calls.caller.tolist(), calls.callee_names, calls.calls.tolist())) == walked
    assert calls.callee.tolist() == [index[c] for _, c, _ in walked]
    other = spec.model_copy(update={"services": spec.services[:-1]})
    assert Calls.of(other) is not calls and len(Calls.of(other).callee) <= len(calls.callee)


def test_the_quick_path_of_the_reference_checks_finds_what_the_walk_finds():
    spec = generate(GenerateSpec(services=60, hosts=6), seed=2)
    assert reference_errors(spec) == []  # unique names, every call known: the quick path
    s = spec.services
    broken = [s[0].model_copy(update={"depends_on": [*s[0].depends_on, "nowhere", s[0].name]}),
              *s[1:-1], s[-1].model_copy(update={"depends_on": [s[1].name, s[1].name]})]
    errors = dict(reference_errors(spec.model_copy(update={"services": broken})))
    n = len(s[0].depends_on)
    assert errors[f"topology.services[0].depends_on[{n}]"] == "unknown service 'nowhere'"
    assert errors[f"topology.services[0].depends_on[{n + 1}]"] == "a service cannot depend on itself"
    assert "listed more than once" in errors[f"topology.services[{len(s) - 1}].depends_on[1]"]


def test_the_kept_log_of_the_baseline_success_share_is_numpys_log():
    twin = Twin(generate(GenerateSpec(services=50), seed=1), LoadSpec(rps=100.0), seed=1)
    rng = np.random.default_rng(0)
    for _ in range(3):  # a version (or a test writing err0 in place) changes err0: the kept ok0 and log follow it
        twin.err0[:] = rng.uniform(0, 0.01, 50)
        ok0, log_ok0 = twin._baseline_ok()
        assert np.array_equal(ok0, 1 - twin.err0)
        ok = ok0 * (rng.random(50) > 0.2)
        ok[:5] *= 0.5
        assert np.array_equal(twin._log_ok(ok, ok0, log_ok0), np.log(np.maximum(ok, 1e-12)))


def test_log_causes_asked_for_a_few_services_are_those_of_the_whole_estate():
    twin = Twin(generate(GenerateSpec(services=80), seed=5), LoadSpec(rps=400.0), seed=5)
    seen = {}
    original = twin._logs

    def spy(cause, lam):
        seen["all"] = cause(np.arange(len(lam)))
        seen["some"] = (np.array([3, 17, 40]), cause(np.array([3, 17, 40])))
        return original(cause, lam)

    twin._logs = spy
    twin.run(60.0)
    at, some = seen["some"]
    assert np.array_equal(seen["all"][at], some)
