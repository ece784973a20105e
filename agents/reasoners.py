"""Reasoners: from the current anomalies to ranked root-cause hypotheses.

A reasoner takes the alerting components (with their evidence) and the topology and returns
root-cause groups, each with ranked candidates. ``RulesReasoner`` (default) is deterministic:

1. components are grouped: a disk with its services, a host whose services fail together,
   then services by the dependency graph;
2. within the anomalous part of the dependency graph, services whose own dependencies are
   healthy are root candidates; a personalized PageRank over caller -> callee edges (a random
   walk drifting towards dependencies, weighted by alert severity) ranks them;
3. each candidate's evidence is scored against the runbook to name the fault and its fixes.

The local-LLM back-ends (``ollama``, ``openai``: :mod:`opstwin.agents.llm`) implement the same interface
and fall back to this one when an answer does not check out against the evidence and the allowed actions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import networkx as nx

from opstwin.agents.messages import Alert, Candidate
from opstwin.agents.runbook import BY_FAULT, RUNBOOK, Hypothesis, score
from opstwin.twin.topology import Topology


# evidence that can point past a service to its host (without `host_wide`, it must outscore the services)
HOST_EVIDENCE = {"log:unreachable", "log:throttled", "log:timeout", "log:reset", "host_cpu", "host_net_latency"}


@dataclass
class RootGroup:
    """One localized problem: ranked candidates and the components it explains."""

    candidates: list[Candidate]
    covers: set[str] = field(default_factory=set)
    evidence: list[str] = field(default_factory=list)
    reasoner: str | None = None  # who diagnosed it, when not the reasoner's own name (an LLM's fallback: rules)


class Reasoner(Protocol):
    """What the diagnoser calls. A reasoner that costs time or waits on a server (an LLM) also has
    ``begin_step()`` (a new round), ``take() -> (events, sim seconds)`` (what to log, what to charge)
    and ``blocking = True`` (run the step off an event loop); the diagnoser uses them when present."""

    name: str

    def localize(self, anomalies: dict[str, Alert], exclude: set[tuple[str, str]] = frozenset()) -> list[RootGroup]: ...


def possible(topo: Topology, action: str, target: str) -> bool:
    """Whether the topology allows `action` on `target` at all: a failover needs a standby host (an
    impossible fix would only burn an attempt)."""
    if action == "failover":
        return topo.is_service(target) and topo.service_spec(target).standby_host is not None
    return True


def _actions(topo: Topology, h: Hypothesis, component: str, exclude: set[tuple[str, str]]) -> list[tuple[str, str, dict]]:
    return [(a, component, dict(p)) for a, p in h.fixes if (a, component) not in exclude and possible(topo, a, component)]


class RulesReasoner:
    name = "rules"

    def __init__(self, topo: Topology) -> None:
        self.topo = topo
        self.host_services = {h: set(topo.services_on_host(h)) for h in topo.hosts}
        self.host_of = {s: h for h in topo.hosts for s in self.host_services[h]}
        self.disk_services = {d: set(topo.services_on_disk(d)) for d in topo.disks}
        self.disk_host = {d: topo.hosts[topo.disk_host[i]] for i, d in enumerate(topo.disks)}

    # ----------------------------------------------------------- evidence
    def _evidence(self, alerts: list[Alert]) -> set[str]:
        ev: set[str] = set()
        for a in alerts:
            ev.update(a.symptoms)
            if a.deployed_ago is not None:
                ev.add("recent_deploy")
        return ev

    def _hypotheses(self, kind: str, evidence: set[str]) -> list[tuple[float, Hypothesis]]:
        scored = [(score(h, evidence), h) for h in RUNBOOK if h.kind == kind]
        return sorted([(s, h) for s, h in scored if s > 0], key=lambda x: (-x[0], x[1].fault))

    def _candidate(self, component: str, kind: str, evidence: set[str], weight: float,
                   exclude: set[tuple[str, str]]) -> list[Candidate]:
        out = []
        for s, h in self._hypotheses(kind, evidence):
            actions = _actions(self.topo, h, component, exclude)
            if actions:
                out.append(Candidate(component=component, kind=kind, fault=h.fault,
                                     confidence=round(min(1.0, weight * s / 12.0), 4), actions=actions))
        return out

    # ------------------------------------------------------------ localize
    def localize(self, anomalies: dict[str, Alert], exclude: set[tuple[str, str]] = frozenset()) -> list[RootGroup]:
        services = {c: a for c, a in anomalies.items() if a.kind == "service"}
        disks = {c: a for c, a in anomalies.items() if a.kind == "disk"}
        hosts = {c: a for c, a in anomalies.items() if a.kind == "host"}
        groups: list[RootGroup] = []
        explained: set[str] = set()

        # 0. traffic surges: they flow downstream, so blame the most upstream surging service
        surging = {c for c, a in services.items() if "rate_spike" in a.symptoms}
        for root in sorted(c for c in surging if not any(p in surging for p in self.topo.dependents(c))):
            cands = self._candidate(root, "service", self._evidence([services[root]]), 1.0, exclude)
            if cands:
                downstream = {d for d in self.topo.descendants(root) if d in services}
                covers = {root} | downstream | self._upstream([root], services)
                groups.append(RootGroup(cands[:3], covers, sorted(self._evidence([services[root]]))))
                explained |= covers
        services = {c: a for c, a in services.items() if c not in explained}

        # 1. disks, with the services writing to them
        for disk in sorted(set(disks) | self._disks_named_by_services(services)):
            members = sorted(s for s in self.disk_services.get(disk, ()) if s in services)
            ev = self._evidence([*([disks[disk]] if disk in disks else []), *(services[s] for s in members)])
            cands = self._candidate(disk, "disk", ev, 1.0, exclude)
            if cands:
                covers = {disk, *members} | self._upstream(members, services)
                groups.append(RootGroup(cands, covers, sorted(ev)))
                explained |= covers

        # 2. hosts whose services fail together: only a host with a failing service or an alert of its own
        # can form a group, so those are visited (in topology order), not every host of a big estate
        touched = {self.host_of[s] for s in services if s not in explained and s in self.host_of}
        touched |= {h for h in hosts if h in self.host_services}
        for host in sorted(touched, key=self.topo.host_index):
            on_host = self.host_services[host]
            failing = sorted(s for s in on_host if s in services and s not in explained)
            if not failing and host not in hosts:
                continue
            ev = self._evidence([*([hosts[host]] if host in hosts else []), *(services[s] for s in failing)])
            if len(failing) >= 2 and len(failing) >= 0.6 * len(on_host) and self._independent(failing, services):
                ev.add("host_wide")
            host_cands = self._candidate(host, "host", ev, 1.0, exclude)
            if host_cands and ("host_wide" in ev or self._points_at_host(hosts.get(host), host_cands[0], failing, services)):
                covers = {host, *failing} | self._upstream(failing, services)
                groups.append(RootGroup(host_cands, covers, sorted(ev)))
                explained |= covers

        # 3. services: roots of the anomalous dependency subgraph, ranked by a random walk
        rest = {s: a for s, a in services.items() if s not in explained}
        if rest:
            groups += self._service_groups(rest, exclude)
        return groups

    def _points_at_host(self, own: Alert | None, best: Candidate, failing: list[str],
                        services: dict[str, Alert]) -> bool:
        """Whether evidence short of `host_wide` points at the host: its own alert, or services failing
        on their own (no alerting dependency: timeouts from a slow dependency are the dependency's)
        whose host-level explanation scores above what their own evidence says about themselves
        (timeouts on a service with an exhausted pool are its pool's, not the network's)."""
        if own is not None and set(own.symptoms) & HOST_EVIDENCE:
            return True
        roots = [s for s in failing if not any(d in services for d in self.topo.dependencies(s))]
        ev = self._evidence([services[s] for s in roots])
        if not ev & HOST_EVIDENCE:
            return False
        host_score = score(BY_FAULT[best.fault], ev)
        theirs = [max((sc for sc, _ in self._hypotheses("service", self._evidence([services[s]]))), default=0.0)
                  for s in roots]
        return host_score > max(theirs, default=0.0)

    def _disks_named_by_services(self, services: dict[str, Alert]) -> set[str]:
        out = set()
        for s, a in services.items():
            if {"log:disk_full", "log:io", "log:read_only", "log:fsync"} & set(a.symptoms):
                d = self.topo.service_spec(s).disk
                if d:
                    out.add(d)
        return out

    def _independent(self, failing: list[str], services: dict[str, Alert]) -> bool:
        """Whether at least two failing services on a host fail on their own (none of their
        dependencies alerts): a chain of callers behind one root is not a host problem."""
        roots = [s for s in failing if not any(d in services for d in self.topo.dependencies(s))]
        return len(roots) >= 2

    def _upstream(self, members: list[str] | set[str], services: dict[str, Alert]) -> set[str]:
        """Anomalous services that (transitively) call `members`."""
        out: set[str] = set()
        for m in members:
            if self.topo.is_service(m):
                out |= {a for a in self.topo.ancestors(m) if a in services}
        return out

    def _service_groups(self, rest: dict[str, Alert], exclude) -> list[RootGroup]:
        # built in topology order: networkx's subgraph of a small node set iterates that set, in an order
        # Python's string hashing changes from process to process (logs then differed between runs)
        g = nx.DiGraph()
        g.add_nodes_from(sorted(rest, key=self.topo.index))
        g.add_edges_from((u, v) for u in g for v in self.topo.dependencies(u) if v in rest)
        weights = {s: 1.0 + rest[s].severity for s in sorted(rest)}
        total = sum(weights.values())
        try:
            rank = nx.pagerank(g, personalization={s: w / total for s, w in weights.items()}, max_iter=200)
        except nx.PowerIterationFailedConvergence:
            rank = {s: w / total for s, w in weights.items()}
        roots = [s for s in sorted(rest) if not any(d in rest for d in g.successors(s))]
        groups = []
        for comp in nx.weakly_connected_components(g):
            comp_roots = [r for r in roots if r in comp]
            ranked = sorted(comp, key=lambda s: (s not in comp_roots, -rank[s], s))
            # each root with its own evidence: its own alert, plus dependants failing
            seen: set[str] = set()
            for root in [r for r in ranked if r in comp_roots]:
                ev = self._evidence([rest[root]])
                if any(d in rest for d in self.topo.dependents(root)):
                    ev.add("dependants_failing")
                cands = self._candidate(root, "service", ev, 1.0, exclude)
                # alternatives: the next ranked services in the same component
                for alt in ranked:
                    if alt != root and len(cands) < 3:
                        alt_ev = self._evidence([rest[alt]])
                        cands += self._candidate(alt, "service", alt_ev, 0.5, exclude)[:1]
                if not cands:
                    continue
                covers = {root} | (self._upstream([root], rest) & comp)
                seen |= covers
                groups.append(RootGroup(cands[:3], covers, sorted(ev)))
        return groups
