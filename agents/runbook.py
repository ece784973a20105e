"""The team's runbook: what each kind of fault looks like, and what fixes it.

This is the agents' own operational knowledge, the kind an SRE team writes down, not the
injector's ground truth (agents never see that). Each hypothesis names the component kind it
blames, the evidence that points to it (alert symptoms, weighted) and the fixes to try, in
order. The rules reasoner scores hypotheses against the evidence; the coordinator walks
the fixes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Hypothesis:
    fault: str
    kind: str  # the blamed component: service, disk or host
    category: str  # which specialists can act: compute, storage, deploy, network
    evidence: dict[str, float]  # symptom -> weight
    fixes: tuple[tuple[str, dict[str, Any]], ...]  # (action, params), tried in order
    needs: tuple[str, ...] = field(default=())  # symptoms without which it is not considered


# What lines say, as an SRE reads them: signal -> phrases in a mined template (lower case).
# Most signals are written by several causes (timeouts by pools, partitions, overload and slow
# dependencies alike); a signal is weighed with the metrics, never taken as the answer.
LOG_SIGNALS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("tls", ("x509", "tls handshake", "certificate")),
    ("config", ("config",)),
    ("crash", ("back-off restarting", "exited with code", "crashloop", "startup failed")),
    ("oom", ("outofmemory", "oomkilled")),
    ("gc", ("gc overhead",)),
    ("pool", ("database connection", "connection is not available")),
    ("lock", ("lock wait",)),
    ("timeout", ("timed out", "i/o timeout")),
    ("unreachable", ("no route to host",)),
    ("refused", ("connection refused",)),
    ("reset", ("reset by peer",)),
    ("dns", ("lookup",)),
    ("throttled", ("cpu throttled",)),
    ("overload", ("queue full", "saturated")),
    ("rate_limited", ("too many requests", "rate limited")),
    ("disk_full", ("no space left",)),
    ("io", ("input/output error",)),
    ("read_only", ("read-only file system",)),
    ("fsync", ("fsync",)),
    ("upstream", ("bad gateway", "call to", "circuit breaker", "retrying")),
    ("slow", ("slow request",)),
    ("probe", ("probe failed",)),
    ("error", ("internal server error", "unhandled exception")),
)
SIGNALS = tuple(name for name, _ in LOG_SIGNALS)


def log_signals(template: str) -> set[str]:
    """The signals a mined log template shows (``log:<signal>`` symptoms)."""
    text = template.lower()
    return {name for name, phrases in LOG_SIGNALS if any(p in text for p in phrases)}


RUNBOOK: tuple[Hypothesis, ...] = (
    Hypothesis("disk_fill", "disk", "storage",
               {"disk_filling": 3, "disk_usage": 3, "log:disk_full": 4, "log:read_only": 1, "log:fsync": 1},
               (("clean_disk", {}), ("expand_disk", {"factor": 2.0})),
               needs=("disk_filling", "disk_usage", "log:disk_full")),
    Hypothesis("disk_failure", "disk", "storage",
               {"io_errors": 5, "log:io": 4, "log:read_only": 1, "log:fsync": 1},
               (("replace_disk", {}),), needs=("io_errors", "log:io")),
    Hypothesis("host_failure", "host", "compute",
               {"down": 2, "log:unreachable": 4, "log:refused": 1, "host_wide": 3},
               (("reboot_host", {}),), needs=("log:unreachable",)),
    Hypothesis("cpu_saturation", "host", "compute",
               {"log:throttled": 4, "host_cpu": 4, "latency": 1, "host_wide": 2, "log:slow": 1},
               (("migrate_noisy_neighbour", {}),), needs=("log:throttled", "host_cpu")),
    Hypothesis("network_latency", "host", "network",
               {"host_net_latency": 6, "latency": 2, "host_wide": 3, "log:slow": 1},
               (("reset_network", {}),), needs=("host_net_latency", "host_wide")),
    Hypothesis("network_partition", "host", "network",
               {"log:timeout": 3, "log:unreachable": 2, "log:reset": 2, "log:dns": 1, "errors": 1},
               (("reset_network", {}),), needs=("log:timeout", "log:reset", "log:unreachable")),
    Hypothesis("memory_leak", "service", "compute",
               {"memory": 7, "memory_growth": 7, "log:gc": 3, "log:oom": 3, "restarts": 1},  # a leak, nearly always
               (("rollback_deployment", {}), ("restart_service", {})),  # a restart only buys time
               needs=("memory", "memory_growth", "log:gc", "log:oom")),
    Hypothesis("crash_loop", "service", "deploy",
               {"log:crash": 4, "restarts": 2, "down": 1, "log:config": 1, "log:probe": 1},
               (("revert_config", {}), ("rollback_deployment", {})), needs=("log:crash",)),
    Hypothesis("bad_deployment", "service", "deploy",
               {"recent_deploy": 4, "latency": 1, "errors": 1, "log:error": 1, "log:config": 1},
               (("rollback_deployment", {}),), needs=("recent_deploy",)),
    Hypothesis("certificate_expiry", "service", "deploy",
               {"log:tls": 5, "errors": 1, "log:reset": 1},
               (("rotate_certificate", {}),), needs=("log:tls",)),
    Hypothesis("config_drift", "service", "deploy",
               {"log:config": 5, "errors": 1, "latency": 1, "log:tls": 1, "log:error": 1},
               (("revert_config", {}),), needs=("log:config",)),
    Hypothesis("connection_pool_exhaustion", "service", "compute",
               {"log:pool": 5, "log:lock": 1, "log:timeout": 1, "errors": 1, "latency": 1},
               (("restart_service", {}), ("scale_service", {"replicas": "x2"})), needs=("log:pool",)),
    Hypothesis("traffic_spike", "service", "network",
               {"rate_spike": 4, "log:overload": 3, "latency": 1, "errors": 1, "log:rate_limited": 1},
               (("rate_limit", {}), ("scale_service", {"replicas": "x2"})), needs=("rate_spike",)),
    Hypothesis("dependency_outage", "service", "compute",
               {"down": 3, "errors": 2, "dependants_failing": 2, "log:refused": 1, "log:probe": 1},
               (("restart_service", {}), ("failover", {})), needs=("down",)),
)

BY_FAULT = {h.fault: h for h in RUNBOOK}


def score(h: Hypothesis, evidence: set[str]) -> float:
    """How well `evidence` supports `h` (0 when a required symptom is missing)."""
    if h.needs and not any(n in evidence for n in h.needs):
        return 0.0
    return float(sum(w for s, w in h.evidence.items() if s in evidence))
