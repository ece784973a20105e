"""The synthetic topology generator: acyclic, the requested size, every service reachable."""

import networkx as nx
import pytest

from opstwin.twin.model import Twin
from opstwin.twin.spec import GenerateSpec, LoadSpec, reference_errors
from opstwin.twin.synthetic import default_rps, generate
from opstwin.twin.topology import Topology


def graph_of(topology) -> nx.DiGraph:
    g = nx.DiGraph()
    g.add_nodes_from(s.name for s in topology.services)
    g.add_edges_from((s.name, d.service) for s in topology.services for d in s.dependencies())
    return g


@pytest.mark.parametrize("services", [2, 3, 7, 10, 50, 200, 333])
def test_the_generated_topology_has_the_requested_size_and_is_valid(services):
    topology = generate(GenerateSpec(services=services), seed=1)
    assert len(topology.services) == services
    assert len({s.name for s in topology.services}) == services
    assert reference_errors(topology) == []  # no dangling names, duplicates or cycles


@pytest.mark.parametrize("services, layers, entries", [(20, 2, 1), (20, 20, 3), (9, 8, 5), (100, 12, 10), (4, 20, 4)])
def test_any_layout_is_acyclic_and_every_non_entry_service_has_a_caller(services, layers, entries):
    spec = GenerateSpec(services=services, layers=layers, entries=entries)
    topology = generate(spec, seed=2)
    g = graph_of(topology)
    assert len(topology.services) == services
    assert nx.is_directed_acyclic_graph(g)
    for s in topology.services:
        if s.entry:
            assert g.in_degree(s.name) == 0
        else:
            assert g.in_degree(s.name) >= 1, f"{s.name} has no caller"
    assert 1 <= sum(s.entry for s in topology.services) <= entries


def test_the_same_seed_gives_the_same_topology_and_another_seed_a_different_one():
    spec = GenerateSpec(services=60)
    assert generate(spec, seed=4) == generate(spec, seed=4)
    assert generate(spec, seed=4) != generate(spec, seed=5)


def test_hosts_default_to_one_per_eight_services_and_every_service_has_a_disk():
    topology = generate(GenerateSpec(services=40), seed=0)
    assert len(topology.hosts) == 5
    disks = {d.name for h in topology.hosts for d in h.disks}
    assert all(s.disk in disks for s in topology.services)


def test_default_rps_keeps_a_generated_cloud_healthy():
    topology = generate(GenerateSpec(services=120), seed=3)
    twin = Twin(topology, LoadSpec(rps=default_rps(topology)), seed=3)
    twin.run(600)
    assert twin.health > 0.95
    assert Topology.build(topology).n_services == 120
