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


RUNBOOK: tuple[Hypothesis, ...] = (
    Hypothesis("disk_fill", "disk", "storage",
               {"disk_filling": 3, "disk_usage": 3, "log:disk_full": 4},
               (("clean_disk", {}), ("expand_disk", {"factor": 2.0}))),
    Hypothesis("disk_failure", "disk", "storage",
               {"io_errors": 5, "log:io_error": 5},
               (("replace_disk", {}),), needs=("io_errors", "log:io_error")),
    Hypothesis("host_failure", "host", "compute",
               {"down": 2, "log:host_unreachable": 6, "host_wide": 3},
               (("reboot_host", {}),), needs=("log:host_unreachable",)),
    Hypothesis("cpu_saturation", "host", "compute",
               {"log:cpu_throttled": 6, "host_cpu": 4, "latency": 1, "host_wide": 2},
               (("migrate_noisy_neighbour", {}),), needs=("log:cpu_throttled", "host_cpu")),
    Hypothesis("network_latency", "host", "network",
               {"host_net_latency": 6, "latency": 2, "host_wide": 3, "log:slow_request": 1},
               (("reset_network", {}),), needs=("host_net_latency", "host_wide")),
    Hypothesis("network_partition", "host", "network",
               {"log:connection_timeout": 6, "errors": 1},
               (("reset_network", {}),), needs=("log:connection_timeout",)),
    Hypothesis("memory_leak", "service", "compute",
               {"memory": 3, "log:memory_pressure": 3, "log:oom_killed": 4, "restarts": 1},
               (("rollback_deployment", {}), ("restart_service", {}))),  # a restart only buys time
    Hypothesis("crash_loop", "service", "deploy",
               {"log:crash_loop": 6, "restarts": 2, "down": 1},
               (("revert_config", {}), ("rollback_deployment", {})), needs=("log:crash_loop",)),
    Hypothesis("bad_deployment", "service", "deploy",
               {"recent_deploy": 4, "latency": 1, "errors": 1, "log:exception": 1},
               (("rollback_deployment", {}),), needs=("recent_deploy",)),
    Hypothesis("certificate_expiry", "service", "deploy",
               {"log:cert_expired": 6, "errors": 1},
               (("rotate_certificate", {}),), needs=("log:cert_expired",)),
    Hypothesis("config_drift", "service", "deploy",
               {"log:config_mismatch": 6, "errors": 1, "latency": 1},
               (("revert_config", {}),), needs=("log:config_mismatch",)),
    Hypothesis("connection_pool_exhaustion", "service", "compute",
               {"log:pool_exhausted": 6, "errors": 1, "latency": 1},
               (("restart_service", {}), ("scale_service", {"replicas": "x2"})), needs=("log:pool_exhausted",)),
    Hypothesis("traffic_spike", "service", "network",
               {"log:overloaded": 4, "rate_spike": 4, "latency": 1, "errors": 1},
               (("rate_limit", {}), ("scale_service", {"replicas": "x2"})), needs=("rate_spike",)),
    Hypothesis("dependency_outage", "service", "compute",
               {"down": 3, "errors": 2, "dependants_failing": 2},
               (("restart_service", {}), ("failover", {})), needs=("down", "errors")),
)

BY_FAULT = {h.fault: h for h in RUNBOOK}


def score(h: Hypothesis, evidence: set[str]) -> float:
    """How well `evidence` supports `h` (0 when a required symptom is missing)."""
    if h.needs and not any(n in evidence for n in h.needs):
        return 0.0
    return float(sum(w for s, w in h.evidence.items() if s in evidence))
