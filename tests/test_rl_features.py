"""What a call for proposals tells a bidder: the coordinator's calls carry the diagnosis' confidence,
the candidate's observed alert severity, the incident's age and the number of specialists asked, and
the learned bidder's observation reads them (the other policies ignore them)."""

from pathlib import Path

import numpy as np
import pytest

from opstwin.agents.messages import Task
from opstwin.agents.policies import BidderState
from opstwin.engine.simulation import Simulation
from opstwin.rl.features import OBS_DIM, observe
from opstwin.scenarios.loader import load

ROOT = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def drill_log():
    sim = Simulation(load(ROOT / "scenarios" / "contention" / "contention-drill.yaml"), seed=3)
    sim.run()
    return sim.log.events


def test_calls_for_proposals_carry_what_the_coordinator_knows_of_the_work(drill_log):
    msgs = [e for e in drill_log if e["kind"] == "msg"]
    diagnoses = {}  # incident -> its diagnoses so far, in order
    first_seen = {}  # incident -> sim time its first diagnosis was logged
    cfps: dict[str, list[dict]] = {}
    for e in msgs:
        if e["type"] == "diagnosis" and e["to"] == "coordinator":
            diagnoses.setdefault(e["body"]["incident"], []).append(e["body"])
            first_seen.setdefault(e["body"]["incident"], e["t"])
        elif e["type"] == "task" and e["perf"] == "cfp":
            cfps.setdefault(e["body"]["task"], []).append(e)
    assert len(cfps) > 10
    for calls in cfps.values():
        task = calls[0]["body"]
        assert all(c["body"] == task for c in calls)  # every specialist asked gets the same call
        assert task["bidders"] == len(calls) >= 1
        assert 0 < task["confidence"] <= 1 and task["severity"] >= 0
        assert task["age"] == pytest.approx(calls[0]["t"] - first_seen[task["incident"]], abs=0.1)  # since the first diagnosis
        # confidence and severity are those of a candidate the incident's diagnoses named with this fix
        named = {(c["confidence"], d["severity"].get(c["component"], 0.0))
                 for d in diagnoses[task["incident"]] for c in d["candidates"]
                 if [task["action"], task["target"], task["params"]] in c["actions"]}
        assert (task["confidence"], task["severity"]) in named
    assert any(c[0]["body"]["severity"] > 0 for c in cfps.values())
    assert len({c[0]["body"]["age"] for c in cfps.values()}) > 2


def test_the_observation_reads_the_call_for_proposals():
    me = BidderState("cmp-1", ("compute",), 0, 3, 0.0)
    plain = Task(task="t1", incident="inc1", category="compute", action="restart_service", target="api")
    rich = plain.model_copy(update={"confidence": 0.6, "severity": 10.0, "age": 900.0, "bidders": 8})
    a, b = observe(plain, me), observe(rich, me)
    assert a.shape == b.shape == (OBS_DIM,) and np.array_equal(a[:14], b[:14])
    assert a[14:].tolist() == [0.0, 0.0, 0.0, 0.0]
    assert b[14:] == pytest.approx([0.6, 1.0, 0.5, 0.5])
    huge = rich.model_copy(update={"severity": 1e6, "age": 1e6, "bidders": 1000})
    assert observe(huge, me)[15:].tolist() == [1.0, 1.0, 1.0]
