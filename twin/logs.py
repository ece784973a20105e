"""Log templates: the structured log lines a service emits.

The twin never formats log text per tick (at 10,000 services that would dominate the run).
Each tick yields counts of (service, template) pairs; text is rendered only where a line is
shown or exported, with :func:`render`. A template's ``id`` is its index in :data:`TEMPLATES`
and is stable: detectors learn per-template rates.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Template:
    name: str
    level: str  # INFO, WARN, ERROR
    text: str


TEMPLATES: tuple[Template, ...] = (
    Template("request_ok", "INFO", "{service} handled GET /api/{path} 200 in {ms}ms"),
    Template("slow_request", "WARN", "{service} slow request: {ms}ms exceeds SLO {slo_ms}ms"),
    Template("upstream_error", "ERROR", "{service} upstream call to {dep} failed: 502 Bad Gateway"),
    Template("overloaded", "ERROR", "{service} rejected request: 503 Service Unavailable (queue full)"),
    Template("disk_full", "ERROR", "{service} write failed: [Errno 28] No space left on device ({disk})"),
    Template("io_error", "ERROR", "{service} write failed: [Errno 5] Input/output error on {disk}"),
    Template("oom_killed", "ERROR", "{service} container killed: OOMKilled (exit code 137)"),
    Template("memory_pressure", "WARN", "{service} GC overhead high: heap at {pct}% of limit"),
    Template("host_unreachable", "ERROR", "{service} connect to {host} failed: No route to host"),
    Template("connection_timeout", "ERROR", "{service} connection to {dep} timed out after 5000ms"),
    Template("crash_loop", "ERROR", "{service} startup failed: invalid configuration key '{key}'; CrashLoopBackOff"),
    Template("cert_expired", "ERROR", "{service} TLS handshake failed: x509: certificate has expired"),
    Template("pool_exhausted", "ERROR", "{service} cannot get a database connection: pool exhausted (max {n})"),
    Template("cpu_throttled", "WARN", "{service} CPU throttled: {pct}% of periods throttled"),
    Template("config_mismatch", "WARN", "{service} config checksum mismatch with desired state; using drifted value"),
    Template("exception", "ERROR", "{service} unhandled exception: NullPointerException in RequestHandler"),
    Template("rate_limited", "WARN", "{service} client {client} rate limited: 429 Too Many Requests"),
)

TEMPLATE_ID: dict[str, int] = {t.name: i for i, t in enumerate(TEMPLATES)}
ERROR_IDS: tuple[int, ...] = tuple(i for i, t in enumerate(TEMPLATES) if t.level != "INFO")


def template_id(name: str) -> int:
    """The stable id of a template name (KeyError names the known ones)."""
    try:
        return TEMPLATE_ID[name]
    except KeyError:
        raise KeyError(f"unknown log template {name!r}; known: {', '.join(TEMPLATE_ID)}") from None


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return "?"


def render(template: int, **params: object) -> str:
    """The text of one line, e.g. for a log viewer or an exported sample."""
    t = TEMPLATES[template]
    return f"{t.level} {t.text.format_map(_Blank(params))}"
