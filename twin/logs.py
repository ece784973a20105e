"""Logs: what services write, as causes, shared templates and (on demand) real text lines.

A service's WARN/ERROR lines in a tick come from one *cause*, the dominant condition the twin
sees there (own errors, failing dependencies, slow requests, overload, memory pressure, an OOM
kill, replicas down, a full or failing disk, an unreachable host) or a condition a fault tags
(a certificate, a drifted config, a crash loop, an exhausted pool, CPU throttling, a partition,
a regression). Each cause writes a *mix* of templates, and templates are shared between causes:
timeouts come from pools, partitions, overload and slow dependencies alike; restarts from OOM
kills, crash loops and failed probes; x509 errors from an expired certificate and from a config
that points at the wrong one. A cause's most telling template is only part of its lines, so in
a quiet tick it may not show at all. Every template is also written at a low background rate
with no fault at all (:data:`BACKGROUND_RATE` lines per service per tick).

The twin never formats text per tick (at 10,000 services that would dominate the run): it draws
counts per (service, template) and hands them over in a :class:`LogBatch`. Agents read text
only, through :meth:`LogBatch.read`, for the services they choose to look at, with a budget;
the template ids stay inside this module and the twin. Rendering is deterministic: a line's
variable parts (ids, durations, addresses) come from a hash of (seed, tick, service, line).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable

import numpy as np

if TYPE_CHECKING:
    from opstwin.twin.topology import Topology

EPOCH = 1_767_225_600  # 2026-01-01T00:00:00Z: sim time 0, so exported lines carry real-looking stamps
BACKGROUND_RATE = 0.01  # WARN/ERROR lines per service per tick with nothing wrong (any template)
LINE_FORMAT = r"^(?P<date>\S+) (?P<level>[A-Z]+) \[(?P<component>[^\]]+)\] (?P<content>.*)$"  # loghub style


@dataclass(frozen=True)
class Template:
    name: str
    level: str  # WARN or ERROR (INFO lines are never drawn: they are the healthy bulk)
    logger: str
    text: str


TEMPLATES: tuple[Template, ...] = (
    Template("http_500", "ERROR", "http.server", "request {rid} failed: 500 Internal Server Error after {ms} ms"),
    Template("exception", "ERROR", "app", "unhandled exception in RequestHandler: NullPointerException (request {rid})"),
    Template("upstream_502", "ERROR", "http.client", "upstream {dep} returned 502 Bad Gateway for request {rid}"),
    Template("upstream_503", "ERROR", "http.client", "call to {dep} failed: 503 Service Unavailable after {n} retries"),
    Template("retry", "WARN", "http.client", "retrying call to {dep} (attempt {n} of 3)"),
    Template("circuit_open", "WARN", "resilience", "circuit breaker for {dep} is OPEN after {n} failures"),
    Template("timeout", "ERROR", "http.client", "request to {dep} timed out after {ms} ms"),
    Template("conn_refused", "ERROR", "net", "connect to {ip}:{port} failed: Connection refused"),
    Template("no_route", "ERROR", "net", "connect to {host} ({ip}) failed: No route to host"),
    Template("conn_reset", "WARN", "net", "connection to {ip}:{port} reset by peer"),
    Template("dns_fail", "ERROR", "net", "lookup {dep} on {ip}:53: read udp: i/o timeout"),
    Template("slow_request", "WARN", "http.server", "slow request {rid}: {ms} ms exceeds SLO of {slo} ms"),
    Template("queue_full", "ERROR", "http.server", "rejected request {rid}: 503 Service Unavailable (queue full, {n} waiting)"),
    Template("thread_pool", "WARN", "executor", "worker pool saturated: {n} tasks queued"),
    Template("rate_limited", "WARN", "http.server", "client {ip} rate limited: 429 Too Many Requests"),
    Template("pool_timeout", "ERROR", "db.pool", "Connection is not available, request timed out after {ms} ms (active={n}, idle=0)"),
    Template("pool_wait", "WARN", "db.pool", "waited {ms} ms for a database connection"),
    Template("lock_wait", "WARN", "db", "lock wait timeout exceeded on {key}; try restarting transaction"),
    Template("gc_overhead", "WARN", "jvm.gc", "GC overhead high: heap at {pct}% of limit, pause {ms} ms"),
    Template("oom", "ERROR", "runtime", "java.lang.OutOfMemoryError: Java heap space"),
    Template("oom_killed", "ERROR", "kubelet", "container {rid} killed: OOMKilled (exit code 137)"),
    Template("back_off", "WARN", "kubelet", "back-off restarting failed container {rid} (restart count {n})"),
    Template("exit_code", "ERROR", "kubelet", "container {rid} exited with code {code}"),
    Template("probe_failed", "WARN", "probe", "readiness probe failed: HTTP probe returned {code}"),
    Template("startup_failed", "ERROR", "app", "startup failed: invalid configuration value for key '{key}'"),
    Template("config_mismatch", "WARN", "config", "config checksum {rid} differs from desired state; using running value"),
    Template("config_reload", "WARN", "config", "configuration reloaded from {path} (revision {n})"),
    Template("tls_expired", "ERROR", "tls", "TLS handshake with {dep} failed: x509: certificate has expired or is not yet valid"),
    Template("tls_unknown_ca", "ERROR", "tls", "TLS handshake with {dep} failed: x509: certificate signed by unknown authority"),
    Template("cpu_throttled", "WARN", "cgroup", "CPU throttled in {pct}% of periods"),
    Template("disk_full", "ERROR", "fs", "write to {path} failed: [Errno 28] No space left on device"),
    Template("io_error", "ERROR", "fs", "write to {path} failed: [Errno 5] Input/output error"),
    Template("read_only", "ERROR", "fs", "open {path} failed: [Errno 30] Read-only file system"),
    Template("fsync_slow", "WARN", "fs", "fsync of {path} took {ms} ms"),
)
TEMPLATE_ID: dict[str, int] = {t.name: i for i, t in enumerate(TEMPLATES)}
LEVEL = np.array([t.level for t in TEMPLATES])

# cause -> (template, weight): what a service writes while that condition dominates it
MIXES: dict[str, dict[str, float]] = {
    "error": {"http_500": 0.4, "exception": 0.35, "probe_failed": 0.1, "retry": 0.1, "rate_limited": 0.05},
    "upstream": {"upstream_502": 0.35, "upstream_503": 0.2, "retry": 0.2, "circuit_open": 0.15, "timeout": 0.1},
    "slow": {"slow_request": 0.6, "timeout": 0.15, "thread_pool": 0.15, "pool_wait": 0.1},
    "overload": {"queue_full": 0.35, "thread_pool": 0.2, "timeout": 0.1, "slow_request": 0.1, "cpu_throttled": 0.08,
                 "pool_timeout": 0.07, "gc_overhead": 0.05, "rate_limited": 0.05},
    "memory": {"gc_overhead": 0.6, "slow_request": 0.2, "timeout": 0.1, "oom": 0.1},
    "oom": {"oom_killed": 0.4, "oom": 0.3, "back_off": 0.2, "exit_code": 0.1},
    "down": {"probe_failed": 0.3, "conn_refused": 0.3, "back_off": 0.2, "exit_code": 0.2},
    "disk_full": {"disk_full": 0.5, "read_only": 0.15, "http_500": 0.15, "exception": 0.05, "fsync_slow": 0.1,
                  "io_error": 0.05},
    "io_error": {"io_error": 0.45, "read_only": 0.25, "fsync_slow": 0.15, "http_500": 0.1, "disk_full": 0.05},
    "unreachable": {"no_route": 0.5, "conn_refused": 0.2, "timeout": 0.2, "dns_fail": 0.1},
    # conditions a fault tags (faults/behaviours.py): each still shares its templates
    "tls": {"tls_expired": 0.45, "tls_unknown_ca": 0.15, "conn_reset": 0.2, "upstream_502": 0.1, "http_500": 0.1},
    "config": {"config_mismatch": 0.3, "http_500": 0.2, "exception": 0.15, "config_reload": 0.1,
               "tls_unknown_ca": 0.1, "tls_expired": 0.05, "startup_failed": 0.05, "lock_wait": 0.05},
    "crash": {"back_off": 0.3, "exit_code": 0.2, "startup_failed": 0.25, "config_mismatch": 0.1, "probe_failed": 0.05,
              "oom_killed": 0.05, "oom": 0.05},
    "pool": {"pool_timeout": 0.35, "pool_wait": 0.2, "timeout": 0.2, "lock_wait": 0.1, "http_500": 0.15},
    "throttle": {"cpu_throttled": 0.35, "slow_request": 0.25, "thread_pool": 0.2, "timeout": 0.1, "queue_full": 0.05,
                 "gc_overhead": 0.05},
    "partition": {"timeout": 0.4, "no_route": 0.15, "conn_reset": 0.15, "retry": 0.15, "circuit_open": 0.1,
                  "dns_fail": 0.05},
    "regression": {"exception": 0.3, "http_500": 0.2, "slow_request": 0.2, "timeout": 0.1, "config_reload": 0.1,
                   "startup_failed": 0.05, "probe_failed": 0.05},
    "limited": {"rate_limited": 0.55, "retry": 0.2, "circuit_open": 0.1, "conn_reset": 0.1, "http_500": 0.05},  # 429s
}
CAUSES: tuple[str, ...] = tuple(MIXES)
CAUSE_ID: dict[str, int] = {c: i for i, c in enumerate(CAUSES)}


def _cdf_table() -> np.ndarray:
    """Cumulative template weights per cause (rows), for drawing a line's template."""
    table = np.zeros((len(CAUSES) + 1, len(TEMPLATES)))
    for c, mix in enumerate(MIXES.values()):
        for name, w in mix.items():
            table[c, TEMPLATE_ID[name]] = w
    table[-1] = 1.0  # the background: every template alike
    table /= table.sum(axis=1, keepdims=True)
    return np.cumsum(table, axis=1)


CDF = _cdf_table()
BACKGROUND = len(CAUSES)  # the row of CDF used for background lines


def cause_id(name: str) -> int:
    """The id of a cause (KeyError names the known ones)."""
    try:
        return CAUSE_ID[name]
    except KeyError:
        raise KeyError(f"unknown log cause {name!r}; known: {', '.join(CAUSES)}") from None


def support(cause: str) -> set[str]:
    """The templates a cause can write (for tests and docs)."""
    return set(MIXES[cause])


def draw(rng: np.random.Generator, services: np.ndarray, causes: np.ndarray, counts: np.ndarray,
         n_services: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split each service's `counts` lines over its cause's templates: (service, template, count) triples,
    sorted by service then template. One uniform draw per line."""
    total = int(counts.sum())
    if total == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    line_svc = np.repeat(services, counts)
    line_cause = np.repeat(causes, counts)
    u = rng.random(total)
    tpl = (u[:, None] > CDF[line_cause]).sum(axis=1)
    tpl = np.minimum(tpl, len(TEMPLATES) - 1)
    key, cnt = np.unique(line_svc.astype(np.int64) * len(TEMPLATES) + tpl, return_counts=True)
    return key // len(TEMPLATES), key % len(TEMPLATES), cnt


# ------------------------------------------------------------------ text
def _mix(*values: int) -> int:
    """A 64-bit hash of integers (splitmix64 steps): cheap, stable, order-sensitive."""
    x = 0x9E3779B97F4A7C15
    for v in values:
        x = (x ^ (int(v) & 0xFFFFFFFFFFFFFFFF)) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF
        x ^= x >> 31
        x = x * 0x94D049BB133111EB & 0xFFFFFFFFFFFFFFFF
        x ^= x >> 29
    return x


def _params(h: int, service: str, deps: list[str], host: str) -> dict[str, object]:
    dep = deps[h % len(deps)] if deps else service
    return {
        "rid": f"{h & 0xFFFFFFFF:08x}", "ms": 200 + (h >> 8) % 29800, "n": 1 + (h >> 16) % 64,
        "dep": dep, "host": host, "ip": f"10.{(h >> 20) % 256}.{(h >> 28) % 256}.{(h >> 36) % 254 + 1}",
        "port": (8080, 5432, 443, 6379, 9092)[(h >> 44) % 5], "pct": 40 + (h >> 12) % 60,
        "slo": 500, "code": (1, 2, 137, 139, 255)[(h >> 40) % 5], "key": ("db.url", "pool.size", "tls.cert",
                                                                          "cache.ttl", "feature.flags")[(h >> 24) % 5],
        "path": f"/var/lib/{service}/{('data', 'wal', 'tmp', 'log')[(h >> 48) % 4]}/{(h >> 52) % 4096:04d}",
    }


def render(template: int, when: float, params: dict[str, object]) -> str:
    """One line in the loghub-like layout :data:`LINE_FORMAT` describes."""
    t = TEMPLATES[template]
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(EPOCH + when))
    return f"{stamp}Z {t.level} [{t.logger}] {t.text.format_map(params)}"


@dataclass(frozen=True)
class LogLine:
    service: int  # index of the writing service
    text: str


class LogBatch:
    """One tick's WARN/ERROR lines: per-service volumes for everyone, text for whoever reads.

    The (service, template, count) triples are private: an agent sees counts by level (what a log
    pipeline's metrics give) and the text of the lines it asks for.
    """

    __slots__ = ("_service", "_template", "_count", "_seed", "_tick", "_t", "_topo", "_svc_host")

    def __init__(self, service: np.ndarray, template: np.ndarray, count: np.ndarray, *, seed: int, tick: int,
                 t: float, topo: Topology | None, svc_host: np.ndarray) -> None:
        self._service, self._template, self._count = service, template, count
        self._seed, self._tick, self._t = seed, tick, t
        self._topo, self._svc_host = topo, svc_host

    @classmethod
    def empty(cls) -> LogBatch:
        z = np.zeros(0, dtype=np.int64)
        return cls(z, z, z, seed=0, tick=0, t=0.0, topo=None, svc_host=z)

    def volume(self, n: int, level: str | None = None) -> np.ndarray:
        """Lines per service this tick (length `n`): WARN and ERROR, or only `level` (what a log
        pipeline's per-level counters give)."""
        if level is None:
            return np.bincount(self._service, weights=self._count, minlength=n)[:n]
        keep = LEVEL[self._template] == level
        return np.bincount(self._service[keep], weights=self._count[keep], minlength=n)[:n]

    def writers(self) -> np.ndarray:
        """Indices of the services that wrote any WARN/ERROR line this tick (sorted)."""
        return np.unique(self._service)

    def read(self, services: Iterable[int], limit: int = 20) -> list[LogLine]:
        """The text of up to `limit` lines of each service in `services` (a proportional, deterministic
        sample when it wrote more), in service order."""
        want = np.unique(np.fromiter((int(s) for s in services), dtype=np.int64))
        if not len(want) or not len(self._service):
            return []
        lo = np.searchsorted(self._service, want, side="left")
        hi = np.searchsorted(self._service, want, side="right")
        out: list[LogLine] = []
        for s, a, b in zip(want.tolist(), lo.tolist(), hi.tolist()):
            if a == b:
                continue
            tpl = np.repeat(self._template[a:b], self._count[a:b])
            if len(tpl) > limit:
                tpl = tpl[np.linspace(0, len(tpl) - 1, limit).round().astype(np.int64)]
            topo = self._topo
            name, host = topo.services[s], topo.hosts[int(self._svc_host[s])]
            deps = [topo.services[j] for j in topo.dep_pad[s].tolist() if j < topo.n_services]
            for k, tp in enumerate(tpl.tolist()):
                h = _mix(self._seed, self._tick, s, k, tp)
                when = self._t - (h % 10_000) / 1000.0  # within the tick that just ended
                out.append(LogLine(s, render(tp, when, _params(h, name, deps, host))))
        return out

    def counts(self) -> list[tuple[int, str, int]]:
        """(service, template name, count) triples: ground truth for tests and exports, never for agents."""
        return [(int(s), TEMPLATES[int(t)].name, int(c)) for s, t, c in zip(self._service, self._template, self._count)]
