"""What the learned bidder sees and what its answer means: shared by the environment (training)
and the trained policy (running), so both read a call for proposals the same way.

Observation (``OBS_DIM`` floats in [-1, 1]), all from the call for proposals
(:class:`agents.messages.Task`) and the bidder's own state (:class:`agents.policies.BidderState`),
nothing from other agents or the twin:

===  ===========================================================================
0-3  the task's category, one-hot (compute, storage, deploy, network)
4    1 if the category is among the bidder's skills
5    the action's nominal duration / 600 s (capped at 1)
6    the attempt number / 3 (capped at 1): a retry of a failed step
7    queue / max_queue (the running task included)
8    seconds of work already queued / 1800 (capped at 1)
9    own success rate in this category (shrunk towards 0.9 when it has little record)
10   own slowness in this category: log2(realised / nominal seconds) / 2, in [-1, 1]
11   own experience in this category: log1p(actions done) / log1p(50), capped at 1
12   own success rate over every category
13   own slowness over every category, as 10
14   the diagnosis' confidence in the candidate this fix is for, in [0, 1]
15   that candidate's alert severity (observed health, not the twin's): log1p(s) / log1p(10), capped
16   the incident's age when the call went out / 1800 s (capped at 1)
17   how many specialists were asked: log2(bidders) / 6 (1 alone: 0; 64: 1), capped at 1
===  ===========================================================================

Action (``N_ACTIONS``): 0 refuses; ``k`` in 1..6 bids the heuristic's estimate (queued work plus
the action's nominal time, doubled outside one's skills) times ``LEVELS[k-1]``. So a bidder that
knows from its record it is slow or unreliable at this work can price itself out (x2, x3), and a
good one can undercut (x0.5), which the coordinator's cheapest-bid award turns into allocation.
"""

from __future__ import annotations

import math

import numpy as np

from opstwin.agents.messages import Task
from opstwin.agents.policies import BidderState, HeuristicPolicy, Outcomes, action_seconds
from opstwin.agents.spec import CATEGORIES

FEATURES_VERSION = 2  # bump when the observation or the action meaning changes: old models are refused
OBS_DIM = 18
LEVELS = (0.5, 0.7, 1.0, 1.4, 2.0, 3.0)
N_ACTIONS = 1 + len(LEVELS)
_HEURISTIC = HeuristicPolicy()


def _slowness(o: Outcomes) -> float:
    return float(np.clip(math.log2(max(o.slowness(), 1e-3)) / 2.0, -1.0, 1.0))


def _total(outcomes: dict[str, Outcomes]) -> Outcomes:
    total = Outcomes()
    for o in outcomes.values():
        total = Outcomes(total.succeeded + o.succeeded, total.failed + o.failed, total.seconds + o.seconds,
                         total.nominal + o.nominal)
    return total


def observe(task: Task, me: BidderState) -> np.ndarray:
    """The observation for one call for proposals (module docstring)."""
    obs = np.zeros(OBS_DIM, dtype=np.float32)
    if task.category in CATEGORIES:
        obs[CATEGORIES.index(task.category)] = 1.0
    obs[4] = float(task.category in me.skills)
    obs[5] = min(1.0, action_seconds(task.action) / 600.0)
    obs[6] = min(1.0, task.attempt / 3.0)
    obs[7] = min(1.0, me.queue / max(1, me.max_queue))
    obs[8] = min(1.0, me.busy_for / 1800.0)
    outcomes = me.outcomes or {}
    mine = outcomes.get(task.category, Outcomes())
    obs[9] = mine.success_rate()
    obs[10] = _slowness(mine)
    obs[11] = min(1.0, math.log1p(mine.done) / math.log1p(50))
    total = _total(outcomes)
    obs[12] = total.success_rate()
    obs[13] = _slowness(total)
    obs[14] = float(np.clip(task.confidence, 0.0, 1.0))
    obs[15] = min(1.0, math.log1p(max(0.0, task.severity)) / math.log1p(10.0))
    obs[16] = min(1.0, max(0.0, task.age) / 1800.0)
    obs[17] = min(1.0, math.log2(max(1, task.bidders)) / 6.0)
    return obs


def base_cost(task: Task, me: BidderState) -> float:
    """The heuristic's estimate a bid level multiplies (seconds)."""
    return float(_HEURISTIC.bid(task, BidderState(me.name, me.skills, 0, 1, me.busy_for), np.random.default_rng(0)))


def cost_of(action: int, task: Task, me: BidderState) -> float | None:
    """The bid an action means: None (refuse) or seconds."""
    action = int(action)
    if not 0 <= action < N_ACTIONS:
        raise ValueError(f"bid action {action} is outside 0..{N_ACTIONS - 1}")
    if action == 0:
        return None
    return base_cost(task, me) * LEVELS[action - 1]
