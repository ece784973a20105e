"""Checks of what a valid scenario means: things the schema accepts that cannot be what was meant.

Errors are scenarios that measure nothing (a fault that can have no symptom, a fault given
twice, a service failing over to its own host). Warnings are legal but suspect, so a run still
starts: a fault inside the agents' warm-up (monitors learn it as normal; a scenario may want
that), a warm-up left at its default that outlasts the run (the team never alerts). A warm-up
set in the file to outlast the run is an error. Both return (field path, message) pairs.
"""

from __future__ import annotations

from typing import Any

from opstwin.faults.catalog import CATALOG
from opstwin.faults.targets import Names
from opstwin.twin.units import format_duration


def semantic_errors(scenario: Any) -> list[tuple[str, str]]:
    """(field path, problem) for scenario content that is valid but meaningless."""
    out: list[tuple[str, str]] = []
    topology = scenario.topology
    for i, s in enumerate(topology.services):
        if s.standby_host is not None and s.standby_host == s.host:
            out.append((f"topology.services[{i}].standby_host", f"{s.host!r} is the service's own host; "
                                                                  "failover needs another host"))
    seen_deploys: dict[tuple[str, float], int] = {}
    for i, dep in enumerate(scenario.deployments):
        first = seen_deploys.setdefault((dep.service, dep.at), i)
        if first != i:
            out.append((f"deployments[{i}].at", f"{dep.service!r} is already deployed at this time "
                                                f"(deployments[{first}])"))
    agents = scenario.agents
    if "warmup" in agents.model_fields_set and agents.warmup >= scenario.duration:
        out.append(("agents.warmup", f"warm-up ({format_duration(agents.warmup)}) is not shorter than the run "
                                     f"({format_duration(scenario.duration)}): the team would never alert"))
    out += _symptomless(scenario, Names.of(topology))
    seen_faults: dict[tuple[str, str, float], int] = {}
    for i, f in enumerate(scenario.faults.scheduled):
        if f.targets or f.jitter:
            continue  # drawn per seed: two such entries differ in most seeds
        first = seen_faults.setdefault((f.type, f.target, f.at), i)
        if first != i:
            out.append((f"faults.scheduled[{i}]", f"same type, target and time as faults.scheduled[{first}]; "
                                                  "a fault cannot start twice at once"))
    return out


def _symptomless(scenario: Any, names: Names) -> list[tuple[str, str]]:
    """Scheduled faults whose target can show no symptom (random faults only draw such targets)."""
    out: list[tuple[str, str]] = []
    for i, f in enumerate(scenario.faults.scheduled):
        if f.type == "network_partition":
            continue  # checked with its peer in faults.targets
        kind = CATALOG[f.type].target
        known = set(names.of_kind(kind))
        possible = set(names.candidates(f.type))
        where = [(f"faults.scheduled[{i}].targets[{j}]", t) for j, t in enumerate(f.targets)] if f.targets \
            else [(f"faults.scheduled[{i}].target", f.target)]
        for path, target in where:
            if target in known and target not in possible:
                out.append((path, _why(f.type, kind, target, names)))
    return out


def _why(fault_type: str, kind: str, target: str, names: Names) -> str:
    if fault_type == "traffic_spike":
        return (f"{target!r} is not an entry service; user traffic arrives at {', '.join(names.entries)}, "
                "so a traffic spike elsewhere has no symptom")
    if fault_type == "dependency_outage":
        return f"no service calls {target!r}: a dependency outage there fails no caller"
    if kind == "host":
        return f"no service runs on host {target!r}: a {fault_type} there has no symptom"
    return f"no service uses disk {target!r}: a {fault_type} there has no symptom"


def semantic_warnings(scenario: Any) -> list[tuple[str, str]]:
    """(field path, warning) for legal scenario content that is probably not what was meant."""
    out: list[tuple[str, str]] = []
    warmup = scenario.agents.warmup
    if "warmup" not in scenario.agents.model_fields_set and warmup >= scenario.duration:
        out.append(("duration", f"the run is not longer than the agents' default warm-up "
                                f"({format_duration(warmup)}): the team never alerts (set agents.warmup)"))
        return out
    for i, f in enumerate(scenario.faults.scheduled):
        if f.at - f.jitter < warmup:
            out.append((f"faults.scheduled[{i}].at", f"the fault may start inside the agents' warm-up "
                                                     f"({format_duration(warmup)}): monitors learn it as normal"))
    return out
