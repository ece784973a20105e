"""Logs are evidence to interpret: shared templates, text lines, drain3 mining, runbook signals.

The central check: run every fault type on the small cloud, record which log causes it set off
anywhere, and assert that no template can be written by exactly one fault type (a fault never
signs its own logs). The rest checks the pieces the monitor relies on.
"""

from __future__ import annotations

import re
from collections import defaultdict

import numpy as np
import pytest

from faults_helpers import rig
from opstwin.agents.logreader import LogReader
from opstwin.agents.runbook import LOG_SIGNALS, RUNBOOK, SIGNALS, log_signals
from opstwin.faults.catalog import CATALOG
from opstwin.twin import logs
from opstwin.twin.logs import CAUSES, LINE_FORMAT, MIXES, TEMPLATES, LogBatch

FAULTS = {
    "disk_fill": {"target": "d2", "fill_in": "10m"},
    "disk_failure": {"target": "d2"},
    "host_failure": {"target": "h2"},
    "cpu_saturation": {"target": "h2", "ramp": "2m"},
    "memory_leak": {"target": "api", "oom_after": "5m"},
    "connection_pool_exhaustion": {"target": "api", "ramp": "5m"},
    "dependency_outage": {"target": "db"},
    "bad_deployment": {"target": "api"},
    "crash_loop": {"target": "api"},
    "config_drift": {"target": "api"},
    "certificate_expiry": {"target": "api"},
    "network_latency": {"target": "h2", "ramp": "1m"},
    "network_partition": {"target": "h1", "peer": "h2"},
    "traffic_spike": {"target": "web", "factor": 5, "ramp": "2m"},
}


def _causes_set_off(fault_type: str) -> set[str]:
    """The log causes that held with lines expected, anywhere, during 20 minutes of one fault."""
    r = rig()
    seen: set[str] = set()
    original = r.twin._logs

    def spy(cause, lam):
        seen.update(CAUSES[c] for c in np.unique(cause(np.flatnonzero(lam > 0))))  # cause: of the services asked
        return original(cause, lam)

    r.twin._logs = spy
    r.advance(600)
    seen.clear()  # what a healthy cloud writes is not the fault's
    r.inject({"type": fault_type, **FAULTS[fault_type]})
    r.advance(1200)
    return seen


@pytest.fixture(scope="module")
def writers() -> dict[str, set[str]]:
    """template -> the fault types that can write it."""
    assert set(FAULTS) == set(CATALOG)
    out: dict[str, set[str]] = defaultdict(set)
    for fault_type in FAULTS:
        for cause in _causes_set_off(fault_type):
            for template in logs.support(cause):
                out[template].add(fault_type)
    return out


def test_no_template_is_written_by_exactly_one_fault_type(writers):
    exclusive = {t: sorted(f) for t, f in writers.items() if len(f) == 1}
    assert not exclusive, f"templates only one fault type writes: {exclusive}"
    assert len(writers) >= 0.9 * len(TEMPLATES)  # nearly every template is written by some fault


def test_every_fault_type_sets_off_some_cause():
    for fault_type in ("certificate_expiry", "crash_loop", "config_drift", "connection_pool_exhaustion"):
        assert _causes_set_off(fault_type), fault_type


def test_a_cause_spreads_over_several_templates_none_certain():
    for cause, mix in MIXES.items():
        assert len(mix) >= 4, cause
        assert max(mix.values()) <= 0.6, cause  # its most telling template is at most 60% of its lines
        assert abs(sum(mix.values()) - 1.0) < 1e-9, cause


def test_every_template_shows_in_the_background():
    r = rig()
    r.twin.log_background = 0.5
    r.advance(3600)
    written = {t for (_, t) in r.logs}
    assert written == {t.name for t in TEMPLATES}


def test_lines_are_text_in_the_declared_format_and_deterministic():
    def lines(seed: int) -> list[str]:
        r = rig(seed=seed)
        r.inject({"type": "connection_pool_exhaustion", "target": "api", "ramp": "1m"})
        frame = r.advance(300)
        return [ln.text for ln in frame.logs.read(range(r.twin.topo.n_services), limit=5)]

    a, b = lines(3), lines(3)
    assert a and a == b
    header = re.compile(LINE_FORMAT)
    for text in a:
        m = header.match(text)
        assert m and m.group("level") in ("WARN", "ERROR") and m.group("date").startswith("2026-01-01T")
    assert lines(4) != a


def test_read_is_bounded_per_service_and_volume_counts_every_line():
    r = rig(rps=400)
    r.inject({"type": "dependency_outage", "target": "db"})
    frame = r.advance(120)
    n = r.twin.topo.n_services
    volume = frame.logs.volume(n)
    assert volume.sum() == sum(c for _, _, c in frame.logs.counts())
    read = frame.logs.read(range(n), limit=3)
    per = defaultdict(int)
    for line in read:
        per[line.service] += 1
    assert per and max(per.values()) <= 3
    assert LogBatch.empty().read([0, 1]) == []


def test_drain3_mines_templates_and_the_runbook_reads_signals():
    reader = LogReader()
    texts = [
        f"2026-01-01T00:00:{k:02d}Z ERROR [db.pool] Connection is not available, request timed out after "
        f"{1000 + 37 * k} ms (active={k + 3}, idle=0)" for k in range(20)
    ] + [f"2026-01-01T00:01:{k:02d}Z ERROR [tls] TLS handshake with svc-{k} failed: x509: certificate has "
         f"expired or is not yet valid" for k in range(20)]
    parsed = [reader.parse(t) for t in texts]
    assert all(p is not None for p in parsed)
    assert len({p.cluster for p in parsed[:20]}) == 1 and len({p.cluster for p in parsed[20:]}) == 1
    assert reader.signals(parsed[-1]) == {"tls"}
    assert reader.signals(parsed[0]) == {"pool", "timeout"}  # a pool timeout is also a timeout
    assert reader.parse("not a log line") is None


def test_every_runbook_signal_is_written_by_some_template_and_used():
    written = set().union(*(log_signals(t.text) for t in TEMPLATES))
    assert set(SIGNALS) <= written, set(SIGNALS) - written
    used = {s[4:] for h in RUNBOOK for s in h.evidence if s.startswith("log:")}
    assert used <= set(SIGNALS)
    assert len(LOG_SIGNALS) == len(set(SIGNALS))
