"""Bidding policies: how a specialist prices a call for proposals (lower cost wins).

A policy sees the task and the bidder's own state and returns a cost in seconds, or None to
decline. `random` and `heuristic` live here; a trained PPO policy (`rl`) is loaded by path
and implements the same interface, so a specialist never knows which one it has.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from opstwin.agents.messages import Task
from opstwin.twin.control import ACTIONS


@dataclass(frozen=True)
class BidderState:
    """What a specialist knows about itself when it bids."""

    name: str
    skills: tuple[str, ...]
    queue: int  # tasks waiting, the running one included
    max_queue: int
    busy_for: float  # seconds of work already queued


class BiddingPolicy(Protocol):
    name: str

    def bid(self, task: Task, me: BidderState, rng: np.random.Generator) -> float | None: ...


def action_seconds(action: str) -> float:
    kind = ACTIONS.get(action)
    return kind.duration if kind else 300.0


class RandomPolicy:
    """A baseline: any specialist with room bids a uniformly random cost."""

    name = "random"

    def bid(self, task: Task, me: BidderState, rng: np.random.Generator) -> float | None:
        if me.queue >= me.max_queue:
            return None
        return float(rng.uniform(0.0, 600.0))


class HeuristicPolicy:
    """Expected seconds until done: queued work plus the action, doubled outside one's skills."""

    name = "heuristic"

    def bid(self, task: Task, me: BidderState, rng: np.random.Generator) -> float | None:
        if me.queue >= me.max_queue:
            return None
        cost = me.busy_for + action_seconds(task.action)
        return cost if task.category in me.skills else 2.0 * cost + 60.0


class PolicyError(ValueError):
    """A policy that cannot be loaded (unknown name, missing or bad model file)."""


def load_policy(spec: str) -> BiddingPolicy:
    """`random`, `heuristic`, or a path to a policy trained by `opstwin train`."""
    if spec == "random":
        return RandomPolicy()
    if spec == "heuristic":
        return HeuristicPolicy()
    path = Path(spec)
    try:
        exists = path.exists()
    except OSError as exc:  # a name too long for a path (ENAMETOOLONG), ...
        raise PolicyError(f"unknown bidding policy ({exc.strerror}: {len(spec)} characters); use random, heuristic "
                          "or a path to a .zip model") from None
    if path.suffix == ".zip" or exists:
        if not path.exists():
            raise PolicyError(f"bidding policy model file not found: {path}")
        try:
            from opstwin.rl.policy import TrainedPolicy  # imported lazily: torch is heavy
        except ImportError as exc:
            raise PolicyError(f"cannot load trained policy {path}: {exc}") from None
        return TrainedPolicy.load(path)
    raise PolicyError(f"unknown bidding policy {spec!r}; use random, heuristic or a path to a .zip model")
