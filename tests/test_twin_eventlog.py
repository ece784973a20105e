"""The incident log: canonical JSON lines whose sha256 is known as they are written.

These test the writer alone, with made-up event kinds (validate=False); tests/test_events.py the schema."""

import hashlib
import json

import numpy as np

from opstwin.twin.eventlog import EventLog


def test_lines_are_canonical_and_the_hash_matches_the_file(tmp_path):
    path = tmp_path / "incidents.jsonl"
    log = EventLog(path, validate=False)
    log.emit(1.0, "alert", service="web", score=np.float64(0.1234567891), count=np.int64(3), ok=np.bool_(True))
    log.emit(2.5, "note", z=-0.0, nested={"b": [1.00000049, 2], "a": "é"})
    log.close()
    data = path.read_bytes()
    assert data.decode().splitlines() == [
        '{"count":3,"kind":"alert","ok":true,"score":0.123457,"service":"web","t":1.0}',
        '{"kind":"note","nested":{"a":"é","b":[1.0,2]},"t":2.5,"z":0.0}',
    ]
    assert log.sha256 == hashlib.sha256(data).hexdigest()


def test_events_are_kept_in_memory_and_heard_by_listeners():
    log, heard = EventLog(validate=False), []
    log.listeners.append(heard.append)
    log.emit(0.0, "run_started", seed=1)
    log.emit(5.0, "alert", service="db")
    assert [e["kind"] for e in log.events] == ["run_started", "alert"] and heard == log.events
    assert log.of_kind("alert") == [{"t": 5.0, "kind": "alert", "service": "db"}]
    assert json.loads(json.dumps(log.events)) == log.events  # plain data only


def test_non_finite_numbers_are_written_as_null_so_every_line_stays_json(tmp_path):
    import json

    from opstwin.twin.eventlog import EventLog

    log = EventLog(tmp_path / "l.jsonl", validate=False)
    log.emit(1.0, "x", a=float("nan"), b=float("inf"), c=[float("-inf"), 1.5])
    log.close()
    assert json.loads((tmp_path / "l.jsonl").read_text(), parse_constant=lambda c: 1 / 0) == {
        "t": 1.0, "kind": "x", "a": None, "b": None, "c": [None, 1.5]}
