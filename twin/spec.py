"""What a twin is built from: hosts, disks, services, load and deployments.

These are the twin's own input types (pydantic models, unknown keys refused). The scenario
schema in ``scenarios`` composes them with faults and agents; the twin never sees YAML.
Cross-references (a service on an unknown host, a dependency cycle) are checked by
:func:`reference_errors`, which names the offending field path so a user can find it.
"""

from __future__ import annotations

from graphlib import CycleError, TopologicalSorter
from typing import Annotated

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from opstwin.twin import dag

from opstwin.twin.units import Duration, Size

Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$", max_length=64)]


class Strict(BaseModel):
    """Base for every spec: unknown keys are errors, values are validated on assignment, floats are finite."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)  # .inf is no quantity


class DiskSpec(Strict):
    name: Name
    size: Size = Field(description="capacity, e.g. 100GB")
    used: Size = Field(0.0, description="bytes of lasting data at the start")
    retention: Duration = Field(6 * 3600.0, gt=0, description="how long written logs are kept before rotation")
    growth: Size = Field(0.0, description="bytes of lasting data added per day without any fault (organic "
                                          "growth: usage trends up slowly, a confounder for disk faults)")


class HostSpec(Strict):
    name: Name
    cpu: float = Field(16.0, gt=0, description="cores")
    memory: Size = Field(64e9, description="RAM, e.g. 64GB")
    disks: list[DiskSpec] = Field(default_factory=list)


class Dependency(Strict):
    service: Name
    calls: float = Field(1.0, gt=0, le=100, description="downstream calls per upstream request")


class ServiceSpec(Strict):
    name: Name
    host: Name
    standby_host: Name | None = Field(None, description="where `failover` moves the service")
    replicas: int = Field(2, ge=1, le=1000)
    version: str = "v1"
    capacity: float = Field(100.0, gt=0, description="requests/s one replica serves at full load")
    latency: Duration = Field(0.02, gt=0, description="service time of one request, unloaded")
    slo: Duration = Field(0.5, gt=0, description="latency objective of a request to this service")
    error_rate: float = Field(0.0005, ge=0, lt=1, description="intrinsic share of failed requests")
    cpu: float = Field(1.0, gt=0, description="cores one replica uses at full load")
    memory: Size = Field(2e9, description="memory limit of one replica")
    disk: Name | None = Field(None, description="disk the service writes logs and data to")
    write_per_request: Size = Field(500.0, description="bytes written to its disk per request")
    depends_on: list[Name | Dependency] = Field(default_factory=list)
    entry: bool = Field(False, description="receives user traffic (health counts its requests)")

    def dependencies(self) -> list[Dependency]:
        # isinstance(d, str), not isinstance(d, Dependency): pydantic's model class check is slow enough
        # that asking it for every call of 100,000 services took a second
        return [Dependency(service=d) if isinstance(d, str) else d for d in self.depends_on]


class GenerateSpec(Strict):
    """A synthetic layered topology (drawn from the scenario seed), for big scenarios."""

    services: int = Field(ge=2, le=200_000)
    hosts: int | None = Field(None, ge=1, le=200_000, description="default: one host per 8 services")
    entries: int = Field(3, ge=1)
    max_deps: int = Field(3, ge=1, le=10)
    layers: int = Field(6, ge=2, le=20)


class TopologySpec(Strict):
    hosts: list[HostSpec] = Field(default_factory=list)
    services: list[ServiceSpec] = Field(default_factory=list)
    generate: GenerateSpec | None = None

    @model_validator(mode="after")
    def _one_form(self) -> TopologySpec:
        if self.generate is not None and (self.hosts or self.services):
            raise ValueError("give either `generate` or `hosts` and `services`, not both")
        if self.generate is None and not self.services:
            raise ValueError("a topology needs `services` (and `hosts`), or `generate`")
        return self


class DiurnalSpec(Strict):
    amplitude: float = Field(0.3, ge=0, lt=1, description="relative swing of the daily cycle")
    peak: Duration = Field(14 * 3600.0, description="time of day of the peak")


class SurgeSpec(Strict):
    """A legitimate flash crowd (a campaign, a news mention): more users, no fault.

    The rate ramps up over `ramp`, holds, and ramps down over `ramp` before `at + duration`."""

    at: Duration = Field(description="sim time the surge starts")
    factor: float = Field(gt=1, le=20, description="request rate at the peak / normal")
    duration: Duration = Field(gt=0, description="how long the surge lasts, ramps included")
    ramp: Duration = Field(120.0, ge=0, description="time to reach the peak (and to come back down)")
    entry: Name | None = Field(None, description="the entry service it hits (default: all of them)")

    @model_validator(mode="after")
    def _ramps_fit(self) -> SurgeSpec:
        if 2 * self.ramp > self.duration:
            raise ValueError("2 x ramp must not exceed duration (the surge ramps up and back down within it)")
        return self


class RandomSurgesSpec(Strict):
    """Flash crowds drawn from the seed: Poisson arrivals in a window, factor and length uniform in ranges."""

    rate_per_hour: float = Field(gt=0, le=10, description="mean surges per hour of the window")
    factor: tuple[float, float] = Field((1.3, 1.8), description="[low, high] of the peak factor")
    duration: tuple[Duration, Duration] = Field((600.0, 1800.0), description="[low, high] of a surge's length")
    start: Duration = Field(0.0, description="earliest start")
    end: Duration | None = Field(None, description="latest start (default: end of the run)")

    @model_validator(mode="after")
    def _ranges(self) -> RandomSurgesSpec:
        lo, hi = self.factor
        if not 1 < lo <= hi <= 20:
            raise ValueError("factor must be [low, high] with 1 < low <= high <= 20")
        dlo, dhi = self.duration
        if not 0 < dlo <= dhi:
            raise ValueError("duration must be [low, high] with 0 < low <= high")
        if self.end is not None and self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class LoadSpec(Strict):
    rps: float = Field(200.0, ge=0, description="user requests/s over all entry services, at the daily mean")
    weights: dict[Name, float] = Field(default_factory=dict, description="share per entry service (default equal)")
    diurnal: DiurnalSpec = Field(default_factory=DiurnalSpec)
    noise: float = Field(0.03, ge=0, le=0.5, description="relative per-tick noise of the request rate")
    surges: list[SurgeSpec] = Field(default_factory=list, description="legitimate flash crowds (not faults)")
    random_surges: RandomSurgesSpec | None = Field(None, description="flash crowds drawn from the seed")


class TelemetrySpec(Strict):
    """How far what the monitoring stack reports is from the truth (the frame, never health H).

    - errors: the tick's error share is a binomial draw over its requests, not the expectation;
    - latency: p50 and p99 get multiplicative log-normal jitter (p99 twice as noisy);
    - per-service noise levels: each service's latency jitter is scaled by a factor drawn once from
      the seed (log-normal, `spread`), so some services are noisier than others;
    - scrape gaps: each tick a share `scrape_gap` of services report their previous tick's values
      (stale, never NaN: a consumer sees a repeated sample, as with a late scrape).
    """

    noise: float = Field(1.0, ge=0, le=10, description="scale of all value noise (0: exact expectations)")
    latency_jitter: float = Field(0.05, ge=0, le=1, description="sigma of the log-normal noise on p50 (p99: 2x)")
    spread: float = Field(0.4, ge=0, le=2, description="sigma of the log-normal per-service noise level "
                                                         "(scales latency jitter)")
    scrape_gap: float = Field(0.005, ge=0, le=0.5, description="share of services per tick reporting stale values")


class RandomDeploymentsSpec(Strict):
    """Routine, benign deployments drawn from the seed (a version bump that changes almost nothing):
    a recent deployment is then often not the cause of what follows."""

    rate_per_hour: float = Field(gt=0, le=20, description="mean deployments per hour of the window")
    services: list[Name] | None = Field(None, description="services that may be deployed (default: any)")
    start: Duration = Field(0.0, description="earliest deployment")
    end: Duration | None = Field(None, description="latest deployment (default: end of the run)")
    rollout: Duration = Field(60.0, gt=0, description="time a rollout takes")
    change: float = Field(0.05, ge=0, le=0.5, description="latency and capacity of the new version move by a "
                                                            "factor uniform in [1 - change, 1 + change]")

    @model_validator(mode="after")
    def _window(self) -> RandomDeploymentsSpec:
        if self.services is not None and not self.services:
            raise ValueError("services must not be empty (leave it out for any service)")
        if self.end is not None and self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class VersionChanges(Strict):
    """What a new version changes, relative to the version before it."""

    latency_factor: float = Field(1.0, gt=0)
    capacity_factor: float = Field(1.0, gt=0)
    cpu_factor: float = Field(1.0, gt=0)
    error_rate: float | None = Field(None, ge=0, lt=1, description="new intrinsic error rate")
    memory_leak: Size = Field(0.0, description="bytes/s of memory a replica leaks")


class DeploymentSpec(Strict):
    at: Duration
    service: Name
    version: str
    changes: VersionChanges = Field(default_factory=VersionChanges)
    rollout: Duration = Field(60.0, gt=0, description="time the rollout takes")


class ActionSettings(Strict):
    """A scenario's setting for one control-plane action (``actions: {restart_service: {fail: 0.05}}``)."""

    fail: float | None = Field(None, ge=0, le=1, description="probability the action fails on a healthy target "
                                                             "(raised while its host is down or saturated); "
                                                             "default: the action's own")
    duration: Duration | None = Field(None, gt=0, le=86400, description="sim time the action takes; default: its own")


class Calls:
    """A topology spec's calls, walked once: per call (callers in file order, each one's calls as listed)
    its caller's file index, its callee's name, the callee's index (the last service of that name, -1
    where there is none) and its `calls`.

    Checking a scenario, sizing the bench's load, finding fault targets and compiling the topology all
    read a spec's calls: at 100,000 services each walk of them took a third of a second. The last spec's
    are kept by identity, as :class:`faults.targets.Names` keeps its names (specs are not changed after
    validation; a different services list or length is a different spec).
    """

    _last: Calls | None = None

    @classmethod
    def of(cls, topology: TopologySpec) -> Calls:
        last = cls._last
        if last is None or last.topology is not topology or last.services is not topology.services \
                or last.n != len(topology.services):
            last = cls._last = cls(topology)
        return last

    def __init__(self, topology: TopologySpec) -> None:
        self.topology = topology
        services = self.services = topology.services  # the list walked, and its length (see of())
        self.n = len(services)
        self.index = {s.name: i for i, s in enumerate(services)}  # the last service of a name, as a dict keeps it
        caller: list[int] = []
        callee: list[str] = []
        calls: list[float] = []
        for i, s in enumerate(services):
            for d in s.dependencies():
                caller.append(i)
                callee.append(d.service)
                calls.append(d.calls)
        get = self.index.get
        self.caller = np.array(caller, dtype=np.int64)
        self.callee_names = callee
        self.callee = np.array([get(c, -1) for c in callee], dtype=np.int64)
        self.calls = np.array(calls, dtype=np.float64)


def reference_errors(topology: TopologySpec, deployments: list[DeploymentSpec] = ()) -> list[tuple[str, str]]:
    """(field path, problem) for every dangling name, duplicate or dependency cycle."""
    errors: list[tuple[str, str]] = []
    hosts: dict[str, int] = {}
    disks: dict[str, int] = {}
    for i, h in enumerate(topology.hosts):
        if h.name in hosts:
            errors.append((f"topology.hosts[{i}].name", f"duplicate host {h.name!r}"))
        hosts[h.name] = i
        for j, d in enumerate(h.disks):
            if d.name in disks:
                errors.append((f"topology.hosts[{i}].disks[{j}].name", f"duplicate disk {d.name!r}"))
            if d.used > d.size:
                errors.append((f"topology.hosts[{i}].disks[{j}].used", "used is larger than size"))
            disks[d.name] = i
    services = {}
    for i, s in enumerate(topology.services):
        if s.name in services:
            errors.append((f"topology.services[{i}].name", f"duplicate service {s.name!r}"))
        services[s.name] = i
        if s.host not in hosts:
            errors.append((f"topology.services[{i}].host",
                           f"unknown host {s.host!r}; expected one of the topology's hosts"))
        if s.standby_host is not None and s.standby_host not in hosts:
            errors.append((f"topology.services[{i}].standby_host", f"unknown host {s.standby_host!r}"))
        if s.disk is not None and s.disk not in disks:
            errors.append((f"topology.services[{i}].disk", f"unknown disk {s.disk!r}"))
    table = Calls.of(topology)
    caller, callee = table.caller, table.callee
    if (len(services) == len(topology.services) and bool((callee >= 0).all()) and not (callee == caller).any()
            and len(np.unique(caller * max(len(services), 1) + callee)) == len(callee)):
        # unique names, every callee known, none calls itself or twice: the calls as they are
        return errors + _cycle_errors(topology, services, caller, callee) + _deployment_errors(topology, services,
                                                                                               deployments)
    src: list[int] = []  # calls as indices (the last service of a name, as `services` holds)
    dst: list[int] = []
    for i, s in enumerate(topology.services):
        seen: set[str] = set()
        for j, d in enumerate(s.dependencies()):
            if d.service in seen:
                errors.append((f"topology.services[{i}].depends_on[{j}]",
                               f"{d.service!r} is listed more than once; give it once, with its `calls`"))
                continue
            seen.add(d.service)
            if d.service not in services:
                errors.append((f"topology.services[{i}].depends_on[{j}]", f"unknown service {d.service!r}"))
            elif d.service == s.name:
                errors.append((f"topology.services[{i}].depends_on[{j}]", "a service cannot depend on itself"))
            else:
                src.append(services[s.name])
                dst.append(services[d.service])
    return errors + _cycle_errors(topology, services, src, dst) + _deployment_errors(topology, services, deployments)


def _cycle_errors(topology: TopologySpec, services: dict[str, int], src, dst) -> list[tuple[str, str]]:
    cycle = _cycle(topology, services, src, dst)
    if not cycle:
        return []
    path = " -> ".join(cycle)
    first = services[cycle[0]]
    return [(f"topology.services[{first}].depends_on", f"dependency cycle {path}; dependencies must be acyclic")]


def _deployment_errors(topology: TopologySpec, services: dict[str, int],
                       deployments: list[DeploymentSpec]) -> list[tuple[str, str]]:
    return [(f"deployments[{i}].service", f"unknown service {dep.service!r}") for i, dep in enumerate(deployments)
            if dep.service not in services and topology.generate is None]


def _cycle(topology: TopologySpec, services: dict[str, int], src, dst) -> list[str]:
    """A dependency cycle as `a, b, ..., a` (a depends on b), or []. Acyclic graphs are told apart in
    vectorized O(calls) (:func:`twin.dag.levels`); only a graph with a cycle is handed to stdlib
    graphlib, which names it (and validating a scenario does not import networkx)."""
    n = len(topology.services)
    if dag.levels(n, np.array(src, dtype=np.int64), np.array(dst, dtype=np.int64)) is not None:
        return []
    names = {i: name for name, i in services.items()}
    graph: dict[str, set[str]] = {name: set() for name in services}  # service -> its dependencies
    for a, b in zip(src, dst):
        graph[names[a]].add(names[b])
    try:
        TopologicalSorter(graph).prepare()
    except CycleError as exc:
        return list(reversed(exc.args[1]))  # graphlib lists it dependency first
    return []
