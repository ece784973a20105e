"""The fault catalog: every fault type, what it hits, how it shows, and what fixes it.

:data:`CATALOG` (name -> :class:`FaultType`) is public: ``opstwin faults`` prints it, and it
can serve as a runbook (it describes fault *types*, never which faults a run injected).

Symptoms use the monitor's vocabulary: ``errors``, ``latency``, ``memory``, ``restarts``,
``down``, ``log:<signal>`` (read from mined log lines: :data:`agents.runbook.LOG_SIGNALS`),
``disk_usage``, ``disk_filling``,
``io_errors``, plus ``rate_spike`` (request rate far above normal), ``recent_deploy`` (a
``deployment_started`` event just before the regression) and ``host_wide`` (every service
of one host shows it). ``symptoms`` show on the fault's component (for a host or disk: on
the services placed there); ``dependant_symptoms`` on the services that call it.

Fixes are control-plane actions (:data:`twin.control.ACTIONS`) on the fault's target; a fault
ends when one of them succeeds on the right component (a network partition: either host).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from opstwin.faults import behaviours as b
from opstwin.faults import spec as s



@dataclass(frozen=True)
class FaultType:
    name: str
    category: str  # which specialists act on it: compute, storage, deploy, network
    target: str  # the kind of component it hits: service, host or disk
    summary: str
    symptoms: tuple[str, ...]
    fixes: tuple[str, ...]  # action names, applied to the target
    model: type[s.FaultBase] = field(repr=False)
    behaviour: type[b.Fault] = field(repr=False)
    dependant_symptoms: tuple[str, ...] = ()
    transient: bool = False  # usually ends by itself (still fixable)

    def parameters_schema(self) -> dict:
        """JSON Schema of the type's own keys (beyond type, target, at and the seeded jitter and targets)."""
        schema = self.model.model_json_schema(mode="validation")
        common = ("type", "target", "at", "jitter", "targets")  # every fault has these
        props = {k: v for k, v in schema.get("properties", {}).items() if k not in common}
        return {"type": "object", "properties": props,
                "required": [r for r in schema.get("required", []) if r in props]}


def _t(name, category, target, summary, symptoms, fixes, model, behaviour, dependant_symptoms=(), transient=False):
    return FaultType(name, category, target, summary, tuple(symptoms), tuple(fixes), model, behaviour,
                     tuple(dependant_symptoms), transient)


UPSTREAM = ("errors", "log:upstream")

CATALOG: dict[str, FaultType] = {t.name: t for t in (
    _t("disk_fill", "storage", "disk",
       "junk that log rotation never removes fills a disk; writes then fail",
       ("disk_filling", "disk_usage", "log:disk_full", "errors"), ("clean_disk",), s.DiskFill, b.DiskFill, UPSTREAM),
    _t("disk_failure", "storage", "disk",
       "a disk fails: every read and write on it errors",
       ("io_errors", "log:io", "errors"), ("replace_disk",), s.DiskFailure, b.DiskFailure, UPSTREAM),
    _t("host_failure", "compute", "host",
       "a host goes down with every service on it",
       ("down", "host_wide", "log:unreachable", "errors"), ("reboot_host",), s.HostFailure, b.HostFailure,
       UPSTREAM),
    _t("cpu_saturation", "compute", "host",
       "a noisy neighbour takes most of a host's CPU: every service there slows and sheds load",
       ("log:throttled", "host_wide", "latency", "log:overload", "errors"), ("migrate_noisy_neighbour",),
       s.CpuSaturation, b.CpuSaturation, ("latency", "log:upstream")),
    _t("memory_leak", "compute", "service",
       "a new version leaks memory until replicas are OOM-killed, over and over (GC pauses before each "
       "kill); a restart only buys time, a rollback fixes it",
       ("memory", "log:gc", "log:oom", "restarts", "latency"), ("rollback_deployment",),
       s.MemoryLeak, b.MemoryLeak, ("latency", "log:upstream")),
    _t("connection_pool_exhaustion", "compute", "service",
       "leaked database connections empty a service's pool: waits, then failures, ramping",
       ("log:pool", "errors", "latency"), ("restart_service",),
       s.ConnectionPoolExhaustion, b.ConnectionPoolExhaustion, UPSTREAM),
    _t("dependency_outage", "compute", "service",
       "a downstream service stops answering; errors cascade to every caller",
       ("down", "errors"), ("restart_service", "failover"), s.DependencyOutage, b.DependencyOutage,
       ("errors", "log:upstream")),
    _t("bad_deployment", "deploy", "service",
       "a new version regresses latency (and maybe errors); only a rollback fixes it",
       ("recent_deploy", "latency", "errors"), ("rollback_deployment",), s.BadDeployment, b.BadDeployment,
       ("latency",)),
    _t("crash_loop", "deploy", "service",
       "a bad configuration makes replicas crash on start, again and again",
       ("log:crash", "restarts", "down", "errors"), ("revert_config",), s.CrashLoop, b.CrashLoop, UPSTREAM),
    _t("config_drift", "deploy", "service",
       "the running configuration drifts from the desired state: errors and slower requests",
       ("log:config", "errors", "latency"), ("revert_config",), s.ConfigDrift, b.ConfigDrift, UPSTREAM),
    _t("certificate_expiry", "deploy", "service",
       "a service's TLS certificate expires: every handshake with it fails",
       ("log:tls", "errors"), ("rotate_certificate",), s.CertificateExpiry, b.CertificateExpiry,
       ("errors", "log:tls")),
    _t("network_latency", "network", "host",
       "calls into a host's services are slow (loss, retransmits) while their CPU stays normal",
       ("latency", "host_wide", "log:slow"), ("reset_network",), s.NetworkLatency, b.NetworkLatency,
       ("latency",), transient=True),
    _t("network_partition", "network", "host",
       "calls between two hosts time out, in both directions (fix: either host)",
       ("log:timeout", "errors", "latency"), ("reset_network",), s.NetworkPartition,
       b.NetworkPartition, UPSTREAM),
    _t("traffic_spike", "network", "service",
       "requests into a service multiply (a flash crowd, a retry storm, a scraper); it sheds load",
       ("rate_spike", "log:overload", "errors", "latency"), ("rate_limit",), s.TrafficSpike, b.TrafficSpike,
       UPSTREAM, transient=True),
)}

assert set(CATALOG) == set(s.FAULT_TYPES), "every fault model needs a catalog entry"


def describe(t: FaultType) -> dict:
    """One catalog entry as plain data (what `opstwin faults --json` prints)."""
    return {
        "name": t.name, "category": t.category, "target": t.target, "summary": t.summary,
        "parameters": t.parameters_schema(), "symptoms": list(t.symptoms),
        "dependant_symptoms": list(t.dependant_symptoms), "fixes": list(t.fixes), "transient": t.transient,
    }
