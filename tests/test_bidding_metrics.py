"""Bidding metrics from an incident log: allocation efficiency against the best bidder's true
expected time, Jain's fairness over busy time, bids and messages per task, throughput."""

import pytest

from opstwin.evaluation.bidding import compute_bidding, jain


def msg(t, perf, typ, frm, to, body):
    return {"t": t, "kind": "msg", "perf": perf, "type": typ, "from": frm, "to": to, "body": body}


TASK = {"task": "t1", "incident": "i1", "category": "compute", "action": "restart_service", "target": "api",
        "params": {}, "attempt": 1}


def test_jain_is_one_when_even_and_one_over_n_when_one_does_everything():
    assert jain([5.0, 5.0, 5.0, 5.0]) == 1.0
    assert jain([8.0, 0.0, 0.0, 0.0]) == pytest.approx(0.25)
    assert jain([0.0, 0.0]) == 1.0 and jain([]) is None


def test_a_slow_winner_when_a_fast_one_bid_scores_its_ratio():
    profiles = {"fast": {"compute": (2.0, 1.0)}, "slow": {"compute": (0.5, 1.0)}}
    events = [
        msg(0, "cfp", "task", "coordinator", "fast", TASK), msg(0, "cfp", "task", "coordinator", "slow", TASK),
        msg(0, "propose", "bid", "fast", "coordinator", {"task": "t1", "cost": 9, "queue": 0}),
        msg(0, "propose", "bid", "slow", "coordinator", {"task": "t1", "cost": 1, "queue": 0}),
        msg(10, "accept-proposal", "award", "coordinator", "slow", {"task": "t1"}),
        msg(10, "reject-proposal", "award", "coordinator", "fast", {"task": "t1"}),
        {"t": 10, "kind": "action_started", "action_id": "a1", "by": "slow"},
        {"t": 70, "kind": "action_succeeded", "action_id": "a1", "by": "slow"},
        msg(70, "inform-done", "action_result", "slow", "coordinator",
            {"task": "t1", "action_id": "a1", "action": "restart_service", "target": "api", "status": "succeeded"}),
        {"t": 80, "kind": "incident_closed", "incident": "i1", "status": "resolved"},
    ]
    m = compute_bidding(events, ["fast", "slow"], profiles, 3600.0)
    fast_expected = (30 / 2.0 + 30.0) / 0.98 - 30.0  # restart_service: 30 s nominal, 2% failures
    assert m["allocation_efficiency"] == pytest.approx(60.0 / fast_expected, rel=1e-3)
    assert m["tasks"] == 1 and m["bids_per_task"] == 2 and m["auction_messages_per_task"] == 6
    assert m["messages_per_task"] == 7 and m["throughput_per_hour"] == 1.0
    assert m["load_fairness"] == pytest.approx(0.5)
