"""The `faults:` section of a scenario: scheduled faults and seeded random ones.

    faults:
      scheduled:                       # each entry: type, target, at, and the type's own keys
        - {type: disk_fill, target: app-1-logs, at: 2h, fill_in: 40m}
        - {type: bad_deployment, target: order-router, at: 3h, latency_factor: 12}
        - {type: traffic_spike, target: web, at: 5h, factor: 4, duration: 30m}   # transient
        - {type: crash_loop, targets: [api, worker], at: 4h, jitter: 1h}        # seeded time and target
      random:                          # Poisson arrivals, drawn from the scenario seed
        - {rate_per_hour: 1.5, types: [memory_leak, cpu_saturation], targets: [api, host-3],
           window: {start: 1h, end: 5h}}

A scheduled fault is one model per type (a discriminated union on ``type``; unknown keys
are refused). ``duration`` makes any fault transient: it ends by itself after that long
unless fixed first; without it a fault lasts until a fixing action succeeds (see
:mod:`faults.catalog`). ``jitter`` and ``targets`` make a scheduled fault differ per seed: its
time is drawn in ``at +- jitter`` and its target from ``targets`` (stream
``faults/scheduled[i]``), so a benchmark cannot be learned by heart. Targets are names of the topology (a service, host or disk, per
type); they are checked against the topology by :func:`faults.checks.fault_errors`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import Discriminator, Field, Tag, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from opstwin.twin.spec import Name, Strict
from opstwin.twin.units import Duration, Size


class FaultBase(Strict):
    target: Name = Field(description="the component the fault hits (service, host or disk, per type); "
                                     "with `targets`, defaults to its first")
    at: Duration = Field(description="sim time of injection, e.g. 2h")
    duration: Duration | None = Field(None, gt=0, description="transient: ends by itself after this long "
                                                              "(default: lasts until fixed)")
    jitter: Duration = Field(0.0, ge=0, description="per seed, the injection time is drawn uniformly in "
                                                    "[at - jitter, at + jitter]")
    targets: list[Name] | None = Field(None, min_length=1, description="per seed, the target is drawn "
                                                                       "uniformly from these")

    @model_validator(mode="before")
    @classmethod
    def _target_from_targets(cls, data: Any) -> Any:
        if isinstance(data, dict) and "target" not in data and isinstance(data.get("targets"), list) and data["targets"]:
            data = {**data, "target": data["targets"][0]}
        return data

    @model_validator(mode="after")
    def _seeded(self) -> FaultBase:
        if self.jitter > self.at:
            raise ValueError("jitter must not exceed `at` (the earliest draw, at - jitter, would be before the start)")
        if self.targets is not None and self.target not in self.targets:
            raise ValueError(f"target {self.target!r} is not among `targets`; list it there (or leave `target` out)")
        if self.targets is not None and len(set(self.targets)) != len(self.targets):
            raise ValueError("`targets` lists a component twice")
        return self

    def params(self) -> dict:
        """The type's own parameters (everything but type, target, at and the seeded draws), as plain data."""
        return self.model_dump(mode="json", exclude={"type", "target", "at", "jitter", "targets"})

    def drawn(self, rng: Any) -> FaultBase:
        """This fault with its time and target drawn from `rng` (a numpy Generator); always two draws,
        so one entry's choices never shift another's."""
        u, k = float(rng.random()), float(rng.random())
        at = float(round(self.at + self.jitter * (2 * u - 1)))
        target = self.targets[int(k * len(self.targets))] if self.targets else self.target
        return self.model_copy(update={"at": at, "target": target, "jitter": 0.0, "targets": None})


class DiskFill(FaultBase):
    """Something writes junk that log rotation never removes (a runaway debug log, core dumps)."""

    type: Literal["disk_fill"] = "disk_fill"
    rate: Size | None = Field(None, gt=0, le=10e9, description="bytes/s written (default: from fill_in)")
    fill_in: Duration | None = Field(None, gt=0, description="time until the disk is full (default 30m)")

    @model_validator(mode="after")
    def _one_rate(self) -> DiskFill:
        if self.rate is not None and self.fill_in is not None:
            raise ValueError("give `rate` or `fill_in`, not both")
        return self


class DiskFailure(FaultBase):
    type: Literal["disk_failure"] = "disk_failure"


class HostFailure(FaultBase):
    type: Literal["host_failure"] = "host_failure"


class MemoryLeak(FaultBase):
    type: Literal["memory_leak"] = "memory_leak"
    rate: Size | None = Field(None, gt=0, le=1e9, description="bytes/s leaked per replica (default: from oom_after)")
    oom_after: Duration | None = Field(None, gt=0, description="time from a fresh start to an OOM kill (default 15m)")

    @model_validator(mode="after")
    def _one_rate(self) -> MemoryLeak:
        if self.rate is not None and self.oom_after is not None:
            raise ValueError("give `rate` or `oom_after`, not both")
        return self


class CpuSaturation(FaultBase):
    """A noisy neighbour on a host takes a share of its CPU."""

    type: Literal["cpu_saturation"] = "cpu_saturation"
    intensity: float = Field(0.85, gt=0, lt=1, description="share of the host's CPU time the neighbour takes")
    ramp: Duration = Field(300.0, ge=0, description="time to reach full intensity")


class BadDeployment(FaultBase):
    """A new version with a latency (and optionally error) regression, rolled out on the target."""

    type: Literal["bad_deployment"] = "bad_deployment"
    version: str | None = Field(None, max_length=64, description="version name (default: <current>.<n>)")
    latency_factor: float = Field(25.0, ge=1, le=1000, description="service time of the new version / old")
    capacity_factor: float = Field(0.5, gt=0, le=1, description="throughput of the new version / old")
    error_rate: float | None = Field(None, ge=0, lt=1, description="intrinsic error rate of the new version")
    rollout: Duration = Field(60.0, gt=0, description="time the rollout takes")


class CrashLoop(FaultBase):
    """A bad configuration makes the service's replicas crash on start, over and over."""

    type: Literal["crash_loop"] = "crash_loop"
    share: float = Field(1.0, gt=0, le=1, description="share of the replicas crash-looping")
    backoff: Duration = Field(40.0, gt=0, description="time between restarts of one replica")


class DependencyOutage(FaultBase):
    """A downstream service stops answering; its callers fail in a cascade."""

    type: Literal["dependency_outage"] = "dependency_outage"


class NetworkLatency(FaultBase):
    type: Literal["network_latency"] = "network_latency"
    latency: Duration = Field(0.4, gt=0, le=30, description="latency added to every call into the host's services")
    ramp: Duration = Field(120.0, ge=0, description="time to reach the full added latency")


class NetworkPartition(FaultBase):
    """Calls between the target host and `peer` (both directions) time out."""

    type: Literal["network_partition"] = "network_partition"
    peer: Name = Field(description="the host on the other side of the partition")


class TrafficSpike(FaultBase):
    type: Literal["traffic_spike"] = "traffic_spike"
    factor: float = Field(4.0, gt=1, le=100, description="request rate at the target / normal")
    ramp: Duration = Field(300.0, ge=0, description="time to reach the full factor")


class ConnectionPoolExhaustion(FaultBase):
    """The target leaks database connections until its pool is empty: waits, then errors."""

    type: Literal["connection_pool_exhaustion"] = "connection_pool_exhaustion"
    error_rate: float = Field(0.5, gt=0, le=1, description="share of requests failing once the pool is empty")
    wait: Duration = Field(2.0, ge=0, le=30, description="latency added waiting for a connection, at the worst")
    ramp: Duration = Field(900.0, ge=0, description="time from the first waits to an empty pool")


class CertificateExpiry(FaultBase):
    """The target's TLS certificate expires: every handshake with it fails."""

    type: Literal["certificate_expiry"] = "certificate_expiry"


class ConfigDrift(FaultBase):
    """The target's running configuration drifts from the desired state (a manual edit)."""

    type: Literal["config_drift"] = "config_drift"
    error_rate: float = Field(0.2, gt=0, le=1, description="share of requests failing with the drifted config")
    latency_factor: float = Field(1.5, ge=1, le=100, description="service time / normal")


FAULT_MODELS = (
    DiskFill, DiskFailure, HostFailure, MemoryLeak, CpuSaturation, BadDeployment, CrashLoop, DependencyOutage,
    NetworkLatency, NetworkPartition, TrafficSpike, ConnectionPoolExhaustion, CertificateExpiry, ConfigDrift,
)
MODEL_OF: dict[str, type[FaultBase]] = {m.model_fields["type"].default: m for m in FAULT_MODELS}
FAULT_TYPES: tuple[str, ...] = tuple(MODEL_OF)


class _UnknownFault(Strict):
    """Stands in for an entry whose `type` is missing or unknown, so the error names `.type`."""

    model_config = {"extra": "allow"}
    type: str

    @field_validator("type")
    @classmethod
    def _unknown(cls, value: str) -> str:
        raise ValueError(f"unknown fault type {value!r}; known: {', '.join(FAULT_TYPES)}")


def _member(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return MODEL_OF[kind].__name__ if isinstance(kind, str) and kind in MODEL_OF else "Unknown"


# a union on `type`; members are tagged by class name so error paths read faults.scheduled[2].rate
FaultSpec = Annotated[
    Union[tuple(Annotated[m, Tag(m.__name__)] for m in FAULT_MODELS)  # type: ignore[misc]
          + (SkipJsonSchema[Annotated[_UnknownFault, Tag("Unknown")]],)],
    Discriminator(_member),
]
FaultTypeName = Literal[FAULT_TYPES]  # type: ignore[valid-type]


def parse_fault(data: dict[str, Any]) -> FaultBase:
    """One fault entry (a dict as in YAML) validated into its model; raises pydantic's ValidationError."""
    from pydantic import TypeAdapter

    return TypeAdapter(FaultSpec).validate_python(data)


class WindowSpec(Strict):
    start: Duration = Field(0.0, description="earliest injection time")
    end: Duration | None = Field(None, description="latest injection time (default: end of the run)")


class RandomFaultSpec(Strict):
    """Faults arriving as a Poisson process in a time window, drawn from the scenario seed."""

    rate_per_hour: float = Field(gt=0, le=100, description="mean faults per hour of the window")
    types: list[FaultTypeName] = Field(min_length=1, description="allowed fault types (drawn uniformly)")
    targets: list[Name] | None = Field(None, description="allowed targets (default: any of the right kind)")
    window: WindowSpec = Field(default_factory=WindowSpec)
    duration: Duration | None = Field(None, gt=0, description="make drawn faults transient")

    @model_validator(mode="after")
    def _window(self) -> RandomFaultSpec:
        if self.window.end is not None and self.window.end <= self.window.start:
            raise ValueError("window.end must be after window.start")
        return self


class FaultsSpec(Strict):
    scheduled: list[FaultSpec] = Field(default_factory=list)  # type: ignore[valid-type]
    random: list[RandomFaultSpec] = Field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.scheduled or self.random)
