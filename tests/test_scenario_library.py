"""The shipped scenario files validate, start healthy, and survive a JSON round trip."""

import json
from pathlib import Path

import pytest

from opstwin.scenarios.loader import load, parse
from opstwin.engine.simulation import Simulation
from opstwin.scenarios.schema import Scenario, json_schema


def _h(twin) -> float:
    """Advance one tick; the twin's ground-truth health H then (frames do not carry it)."""
    twin.advance()
    return twin.health

LIBRARY = sorted(Path(__file__).parents[1].joinpath("scenarios").glob("**/*.yaml"))


def test_there_is_a_library():
    assert any(p.name == "ehr.yaml" for p in LIBRARY)


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: p.name)
def test_a_library_scenario_starts_healthy(path):
    r = Simulation(load(path), agents=False).start()
    trace = [_h(r.twin) for _ in range(10)]
    assert all(0.9 < h <= 1.0 for h in trace), trace


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: p.name)
def test_a_scenario_round_trips_through_json(path):
    scenario = load(path)
    again = parse(json.loads(scenario.model_dump_json()), str(path))
    assert again == scenario


def test_ehr_reads_as_written():
    ehr = load(Path(__file__).parents[1] / "scenarios" / "ehr.yaml")
    assert ehr.duration == 8 * 3600 and ehr.tick == 10 and ehr.ticks == 2880
    db = next(s for s in ehr.topology.services if s.name == "records-db")
    assert db.standby_host == "db-2" and db.latency == pytest.approx(0.006) and db.memory == 32e9
    assert ehr.load.weights == {"patient-portal": 2, "clinician-app": 1}


def test_the_json_schema_describes_units_and_refuses_unknown_keys():
    schema = json_schema()
    assert "topology" in schema["properties"] and schema["additionalProperties"] is False
    assert "anyOf" in schema["properties"]["duration"]  # "6h" or a number of seconds
    assert json.loads(json.dumps(schema)) == schema
    assert Scenario.model_json_schema(mode="validation") == schema
