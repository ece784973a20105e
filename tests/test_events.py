"""The incident log's event schema: one registry, enforced when writing, documented in docs/events.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from opstwin.evaluation import metrics
from opstwin.twin.eventlog import EventLog
from opstwin.twin.events import EVENTS, EventSchemaError, kinds, markdown

DOC = Path(__file__).resolve().parents[1] / "docs" / "events.md"


def test_the_docs_page_is_the_registry():
    assert DOC.read_text() == markdown(), "regenerate: python -m opstwin.twin.events > docs/events.md"


def test_an_unregistered_kind_or_a_wrong_field_is_refused_when_written():
    log = EventLog()
    with pytest.raises(EventSchemaError, match="unknown event kind 'fualt_injected'"):
        log.emit(0.0, "fualt_injected", fault_id="f1")
    with pytest.raises(EventSchemaError, match=r"run_finished: missing \['ticks'\], unexpected \['tick'\]"):
        log.emit(0.0, "run_finished", tick=3)
    assert log.events == []
    log.emit(0.0, "run_finished", ticks=3)
    assert log.events == [{"t": 0.0, "kind": "run_finished", "ticks": 3}]


def test_metrics_read_only_registered_kinds():
    assert set(metrics.READS) <= set(EVENTS)
    with pytest.raises(EventSchemaError):
        kinds("msg", "incident_openned")


def test_every_kind_says_who_writes_it():
    assert all(k.writer and k.fields for k in EVENTS.values())
