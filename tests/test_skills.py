"""Heterogeneous specialists: a scenario's true speed and success per category change how long their
actions take and how often they fail in the twin; a specialist sees only its own record; off-shift
specialists refuse; library scenarios that declare none keep their behaviour."""

import pytest

from opstwin.agents.messages import Task
from opstwin.agents.policies import BidderState, CentralPolicy, HeuristicPolicy, Outcomes, load_policy
from opstwin.agents.spec import AgentsSpec
from opstwin.agents.specialist import Specialist
from opstwin.agents.team import worker_profiles
from opstwin.engine.simulation import Simulation
from opstwin.scenarios.loader import load
from opstwin.twin.control import ACTIONS, OUTSIDE_SKILLS, ControlPlane

PROFILES = {"fast": {"compute": (2.0, 1.0)}, "poor": {"compute": (0.5, 0.2)}}


def _finish(twin, ticket):
    while ticket.status in ("pending", "running"):
        twin.advance()
    return ticket


def test_speed_divides_the_duration_and_an_average_worker_is_unchanged(make_twin, no_failures):
    twin = make_twin()
    twin.advance()
    control = ControlPlane(twin, workers=PROFILES)
    base = ACTIONS["restart_service"].duration
    for who, category, expected in [("fast", "compute", base / 2), ("poor", "compute", base * 2),
                                    ("anyone", "compute", base), ("fast", "storage", base / OUTSIDE_SKILLS[0])]:
        start = twin.now
        ticket = _finish(twin, control.request("restart_service", "api", requester=who, category=category))
        assert ticket.finished_at - start == pytest.approx(expected, abs=10.0), who


def test_success_scales_the_odds_of_success_with_the_seeded_draw(make_twin):
    twin = make_twin()
    twin.advance()
    control = ControlPlane(twin, workers=PROFILES)
    outcomes = {"fast": [], "poor": []}
    for _ in range(40):
        for who in outcomes:
            ticket = _finish(twin, control.request("scale_service", "api", {"replicas": 2}, requester=who,
                                                   category="compute"))
            outcomes[who].append(ticket.status == "succeeded")
    assert sum(outcomes["fast"]) >= 36  # the action's own 2% failures
    assert sum(outcomes["poor"]) <= 16  # success 0.2 x 0.98


def test_the_schema_takes_a_list_or_a_mapping_of_profiles():
    spec = AgentsSpec.model_validate({"specialists": [
        {"name": "a", "skills": ["compute"]},
        {"name": "b", "skills": {"storage": {"speed": 1.5, "success": 0.9}}, "off_shift": [{"start": "1h", "end": "2h"}]},
    ]})
    assert spec.specialists[0].categories == ("compute",) and spec.specialists[0].profiles() is None
    assert spec.specialists[1].categories == ("storage",)
    assert worker_profiles(spec) == {"b": {"storage": (1.5, 0.9)}}
    with pytest.raises(ValueError, match="end"):
        AgentsSpec.model_validate({"specialists": [{"name": "c", "skills": ["deploy"],
                                                    "off_shift": [{"start": "2h", "end": "1h"}]}]})


def test_a_specialist_keeps_only_its_own_record_and_bids_with_it():
    s = Specialist("s", 1, ["compute"], HeuristicPolicy())
    task = Task(task="t1", incident="i1", category="compute", action="restart_service", target="api")
    s._record(task, True, 60.0)
    s._record(task, False, 60.0)
    me = s.me()
    assert me.outcomes["compute"] == Outcomes(succeeded=1, failed=1, seconds=120.0, nominal=60.0)
    assert me.outcomes["compute"].slowness() > 1.0
    assert me.outcomes["compute"].success_rate() < 0.9


def test_central_bids_the_true_expected_completion_time():
    task = Task(task="t1", incident="i1", category="compute", action="restart_service", target="api")
    me = BidderState("x", ("compute",), 0, 3, 0.0)
    good, poor = CentralPolicy({"compute": (2.0, 1.0)}), CentralPolicy({"compute": (0.5, 0.5)})
    assert good.bid(task, me, None) < load_policy("heuristic").bid(task, me, None) < poor.bid(task, me, None)


def test_off_shift_specialists_refuse_and_the_team_still_resolves(tmp_path):
    scenario = load("scenarios/contention/shift-change.yaml")
    sim = Simulation(scenario, seed=2)
    refusals = []
    sim.on_event(lambda e: refusals.append(e) if e["kind"] == "msg" and e["type"] == "refusal"
                 and e["body"]["reason"] == "off shift" else None)
    summary = sim.run()
    assert refusals, "nobody was off shift when a call for proposals came"
    shifts = {s.name: s.off_shift for s in scenario.agents.specialists}
    for e in refusals:
        assert any(g.start <= e["t"] < g.end for g in shifts[e["from"]])
    assert summary["metrics"]["faults_resolved"] >= 0.8 * summary["metrics"]["faults_injected"]


def test_a_past_record_is_drawn_from_the_true_figures_and_seeded():
    from opstwin.agents.specialist import past_record

    fast = past_record(4, "fast", ["compute"], {"compute": (2.0, 1.0)}, 40)["compute"]
    poor = past_record(4, "poor", ["compute"], {"compute": (0.5, 0.5)}, 40)["compute"]
    assert fast.done == poor.done == 40
    assert fast.slowness() < 0.7 and poor.slowness() > 1.5  # speed 2 and 0.5 (shrunk towards 1)
    assert fast.success_rate() > 0.85 and poor.success_rate() < 0.7
    assert past_record(4, "fast", ["compute"], {"compute": (2.0, 1.0)}, 40)["compute"] == fast  # seeded
    assert past_record(5, "fast", ["compute"], {"compute": (2.0, 1.0)}, 40)["compute"] != fast
    two = past_record(4, "two", ["compute", "network"], None, 30)
    assert set(two) == {"compute", "network"} and sum(o.done for o in two.values()) == 30
    assert past_record(4, "none", ["compute"], None, 0) == {}


def test_history_fills_the_record_and_moves_no_decision_of_a_policy_that_ignores_it():
    """`history: N` starts each record with N past results; heuristic bids never read the record, so the
    run is byte-identical (the draw has its own generator) and every policy gets the same past."""
    scenario = load("scenarios/contention/contention-drill.yaml")
    scenario.duration = 7200.0
    with_past = scenario.model_copy(deep=True)
    for spec in with_past.agents.specialists:
        spec.history = 25
    plain, past = Simulation(scenario, seed=2), Simulation(with_past, seed=2)
    past.start()
    records = {a.name: a.outcomes for a in past.team.agents if a.role == "specialist"}
    assert all(sum(o.done for o in r.values()) == 25 for r in records.values())
    a, b = plain.run(), past.run()
    assert a["metrics"]["tasks"] > 3 and a["log_sha256"] == b["log_sha256"]
    assert all(sum(o.done for o in s.outcomes.values()) >= 25 for s in past.team.agents if s.role == "specialist")


def test_record_bids_the_central_formula_with_its_own_record():
    """`record` reads only the bidder's own record: with none it bids as an average specialist would
    (central's formula at speed 1, one try in 0.9 succeeding); a long good record brings it near the oracle's bid for
    the true figures, a poor one above the heuristic's."""
    from opstwin.agents.policies import RecordPolicy
    from opstwin.agents.specialist import past_record

    task = Task(task="t1", incident="i1", category="compute", action="restart_service", target="api")
    newcomer = BidderState("x", ("compute",), 0, 3, 0.0)
    record = RecordPolicy()
    assert record.bid(task, newcomer, None) == pytest.approx(CentralPolicy({"compute": (1.0, 0.9 / 0.98)}).bid(
        task, newcomer, None))  # restart_service fails 2% of the time on its own
    truths = {"fast": (2.0, 1.0), "poor": (0.5, 0.5)}
    bids = {}
    for name, truth in truths.items():
        past = past_record(4, name, ["compute"], {"compute": truth}, 1000)
        bids[name] = record.bid(task, BidderState(name, ("compute",), 0, 3, 0.0, outcomes=past), None)
        oracle = CentralPolicy({"compute": truth}).bid(task, newcomer, None)
        assert bids[name] == pytest.approx(oracle, rel=0.15), name
    assert bids["fast"] < HeuristicPolicy().bid(task, newcomer, None) < bids["poor"]
    outside = Task(task="t2", incident="i1", category="storage", action="restart_service", target="api")
    assert record.bid(outside, newcomer, None) == pytest.approx(CentralPolicy({"compute": (1.0, 1.0)}).bid(
        outside, newcomer, None), rel=0.15)  # outside its skills: the declared penalty until it learns better
    full = BidderState("x", ("compute",), 3, 3, 900.0)
    assert record.bid(task, full, None) is None
    assert load_policy("record").name == "record"


def _drill(duration: float = 5400.0):
    scenario = load("scenarios/contention/contention-drill.yaml")
    scenario.duration = duration
    return scenario


def test_a_crashed_specialist_is_lost_at_its_tick_and_the_work_it_held_is_auctioned_again():
    """`crash_at`: at the first tick from then the clock logs the specialist lost, never steps it again,
    and the coordinator re-auctions only the work it held (another's work goes on)."""
    plain = Simulation(_drill(), seed=3)
    plain.run()
    held = {}  # task -> winner, from the run without a crash
    for e in plain.log.events:
        if e["kind"] == "msg" and e["perf"] == "accept-proposal":
            held[e["body"]["task"]] = (e["to"], e["t"])
    at = max(t for who, t in held.values() if who == "cmp-2") + 10.0  # just after its last award
    scenario = _drill()
    for spec in scenario.agents.specialists:
        if spec.name == "cmp-2":
            spec.crash_at = at
    sim = Simulation(scenario, seed=3)
    summary = sim.run()
    events = sim.log.events
    lost = [i for i, e in enumerate(events) if e["kind"] == "agent_lost"]
    assert len(lost) == 1 and events[lost[0]]["agent"] == "cmp-2" and events[lost[0]]["t"] == at
    assert "crash_at" in events[lost[0]]["reason"]
    assert [a["agent"] for a in summary["agents_lost"]] == ["cmp-2"]
    after = events[lost[0]:]
    reauctioned = [e for e in after if e["kind"] == "reauction"]
    assert reauctioned and all(e["lost"] == "cmp-2" for e in reauctioned)
    assert not [e for e in after if e["kind"] == "msg" and e["from"] == "cmp-2"]  # never stepped again
    assert not [e for e in after if e["kind"] == "msg" and e["to"] == "cmp-2" and e["perf"] in
                ("cfp", "accept-proposal")]
    again = {e["task"] for e in reauctioned}
    assert all(held[t][0] == "cmp-2" for t in again)  # only its own work (the runs agree up to the crash)
    assert summary["ticks"] == scenario.ticks
    twice = Simulation(scenario.model_copy(deep=True), seed=3).run()
    assert twice["log_sha256"] == summary["log_sha256"]
