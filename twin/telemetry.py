"""Telemetry: what the twin shows the outside world each tick, and all an agent may observe.

A :class:`Frame` holds what an operator's monitoring stack would report: per-service rates,
latency, errors, resources, restarts, log counts, where each service runs and when it was last
deployed; per disk and host what a node exporter reports. The twin's ground-truth health H is
not in it (the engine reads it from the twin), so an agent that is fed frames cannot reach it.
Agents import this module, never :mod:`twin.model`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from opstwin.twin.logs import LogBatch


@dataclass
class Frame:
    """One tick of telemetry. Arrays may be the twin's buffers: copy what you keep."""

    tick: int
    t: float
    rate: np.ndarray  # requests/s arriving, per service
    throughput: np.ndarray  # requests/s served without error
    p50: np.ndarray  # seconds, end-to-end (including dependencies)
    p99: np.ndarray
    error: np.ndarray  # share of requests failing with a server error (5xx), including failed dependencies
    cpu: np.ndarray  # cores in use
    memory: np.ndarray  # share of the memory limit in use
    restarts: np.ndarray  # cumulative restarts
    up: np.ndarray  # bool
    disk_used: np.ndarray  # share of each disk in use
    disk_io_errors: np.ndarray  # IO errors this tick, per disk
    host_cpu: np.ndarray  # CPU demand over capacity, per host (a noisy neighbour included)
    host_rtt: np.ndarray  # seconds, round trip to each host as a node exporter would probe it
    throttled: np.ndarray  # share of requests the service's own rate limit turned away (429), not in `error`
    logs: LogBatch  # WARN/ERROR lines: volumes per service, text on demand (twin.logs)
    deployed_at: np.ndarray  # sim time of each service's last version change (-inf: never), a read-only copy
    change_until: np.ndarray  # end of the latest change window (an action) touching each service (-inf: none), read-only
    svc_host: np.ndarray  # host index each service runs on now (a migration moves it), a read-only copy
