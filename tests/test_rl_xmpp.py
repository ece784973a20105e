"""The committed bidding policies over XMPP: specialists in another process (their calls for proposals,
bids and the category of their work crossing the embedded server) give the incident log the
in-process bus gives, byte for byte."""

from pathlib import Path

import pytest

from opstwin.engine.runner import run
from opstwin.scenarios.loader import load

ROOT = Path(__file__).parents[1]
POLICIES = ROOT / "rl" / "policies"

pytestmark = pytest.mark.slow  # SPADE over the embedded XMPP server


def _scenario(policy: Path, history: int):
    scenario = load(ROOT / "scenarios" / "contention" / "contention-drill.yaml")
    scenario.duration = 5400.0  # 90 minutes: warm-up, then a dozen faults and their auctions
    for spec in scenario.agents.specialists:
        spec.policy = str(policy.resolve())
        spec.history = history
    return scenario


@pytest.mark.parametrize(("name", "history"), [("contention-ppo.zip", 0), ("contention-ppo-h20.zip", 20)])
def test_the_committed_policies_over_xmpp_give_the_inproc_log(no_leftovers, name, history):
    policy = POLICIES / name
    if not policy.exists():
        pytest.skip(f"no committed policy {name}")
    inproc = run(_scenario(policy, history), seed=3, agents=True, transport="inproc")
    spade = run(_scenario(policy, history), seed=3, agents=True, transport="spade", processes=2)
    assert inproc["metrics"]["tasks"] > 0 and inproc["metrics"]["bids_per_task"] > 0
    assert spade["log_sha256"] == inproc["log_sha256"]


def test_a_specialist_crash_gives_the_same_log_over_xmpp(no_leftovers):
    """`crash_at` mid-incident: the loss, the re-auction and every decision after them are the same
    whether the specialists talk through the in-process bus or through the embedded server."""
    def crashing():
        scenario = load(ROOT / "scenarios" / "contention" / "contention-drill.yaml")
        scenario.duration = 5400.0
        for spec in scenario.agents.specialists:
            if spec.name in ("cmp-2", "dep-1"):
                spec.crash_at = 4700.0  # both hold work then (seed 3)
        return scenario

    inproc = run(crashing(), seed=3, agents=True, transport="inproc")
    spade = run(crashing(), seed=3, agents=True, transport="spade", processes=2)
    assert [a["agent"] for a in inproc["agents_lost"]] == ["cmp-2", "dep-1"]
    assert spade["agents_lost"] == inproc["agents_lost"]
    assert spade["log_sha256"] == inproc["log_sha256"]
