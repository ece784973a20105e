"""`opstwin bench bidding`: teams of drawn quality, every policy on the same seeds, the figures the
eval's bidding metrics give; a bad policy is one line."""

import subprocess
import sys

from opstwin.bench.bidding import bench_bidding, team

OPSTWIN = [sys.executable, "-m", "opstwin.cli.main"]


def test_teams_are_seeded_and_carry_the_policy_and_history():
    a, b = team(16, 1, "record", history=7), team(16, 1, "heuristic")
    assert [s.skills for s in a] == [s.skills for s in b]  # quality depends on (seed, size) only
    assert team(16, 2, "record") != a
    assert {s.policy for s in a} == {"record"} and {s.history for s in a} == {7} and {s.history for s in b} == {0}


def test_every_policy_runs_on_the_same_seeds_and_reports_the_bidding_metrics():
    out = bench_bidding([4], [1], ["heuristic", "record"], history=5, say=lambda s: None)
    assert out["history"] == 5 and [r["policy"] for r in out["rows"]] == ["heuristic", "record"]
    for row in out["rows"]:
        assert row["specialists"] == 4 and row["faults"] > 0
        assert row["bids_per_task"] is not None and row["bids_per_task"] >= 1
    heuristic, record = out["rows"]
    assert heuristic["faults"] == record["faults"]  # the same faults for both


def test_an_unknown_policy_is_one_line():
    res = subprocess.run(OPSTWIN + ["bench", "bidding", "--specialists", "4", "--policies", "greedy"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "--policies" in res.stderr and "Traceback" not in res.stderr
