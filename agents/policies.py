"""Bidding policies: how a specialist prices a call for proposals (lower cost wins).

A policy sees the task and the bidder's own state and returns a cost in seconds, or None to
decline. `random`, `heuristic`, `record` and `central` live here; a trained PPO policy (`rl`) is
loaded by path and implements the same interface, so a specialist never knows which one it has.

`record` is the hand-written reference a learned bidder must beat: it reads exactly what the
learned one reads of itself (its own record per category), and bids the central planner's formula
with its record's estimates in place of the true figures. Where a trained policy does no better,
it learned nothing a line of arithmetic does not already know.

`central` is the upper reference, not a marketplace: an oracle handed each specialist's true
speed and success per category (which no real team knows) bids the exact expected completion
time, so the coordinator's cheapest-bid award is a central planner's choice of the specialist
with the least expected completion time. It costs the same messages as any other policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

import numpy as np

from opstwin.agents.messages import Task
from opstwin.twin.control import ACTIONS, OUTSIDE_SKILLS


@dataclass(frozen=True)
class Outcomes:
    """A specialist's own record in one category: what it saw of its work, nothing more."""

    succeeded: int = 0
    failed: int = 0
    seconds: float = 0.0  # realised seconds of those actions
    nominal: float = 0.0  # their nominal seconds (ACTIONS' durations)

    @property
    def done(self) -> int:
        return self.succeeded + self.failed

    def success_rate(self, prior: float = 0.9, weight: float = 2.0) -> float:
        """Observed success share, shrunk towards `prior` (a newcomer is assumed fairly good)."""
        return (self.succeeded + prior * weight) / (self.done + weight)

    def slowness(self, weight: float = 2.0) -> float:
        """Realised / nominal duration, shrunk towards 1 (1: nominal speed; 2: half speed)."""
        return self.slowness_from(1.0, weight)

    def slowness_from(self, prior: float, weight: float = 2.0) -> float:
        """Realised / nominal duration, shrunk towards `prior`."""
        return (self.seconds + weight * 60.0 * prior) / (self.nominal + weight * 60.0)


@dataclass(frozen=True)
class BidderState:
    """What a specialist knows about itself when it bids."""

    name: str
    skills: tuple[str, ...]
    queue: int  # tasks waiting, the running one included
    max_queue: int
    busy_for: float  # seconds of work already queued
    work: tuple[tuple[str, str], ...] = ()  # (action, category) of that work, the running one first
    outcomes: dict[str, Outcomes] | None = None  # own record per category (None: nothing yet)


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


class CentralPolicy:
    """The oracle planner's bid (module docstring): true expected seconds until this task is done,
    from the specialist's true (speed, success) per category; outside them, OUTSIDE_SKILLS."""

    name = "central"

    def __init__(self, profiles: dict[str, tuple[float, float]] | None) -> None:
        self.profiles = profiles or {}

    def _profile(self, category: str) -> tuple[float, float]:
        if not self.profiles:
            return 1.0, 1.0
        return self.profiles.get(category, OUTSIDE_SKILLS)

    def bid(self, task: Task, me: BidderState, rng: np.random.Generator) -> float | None:
        if me.queue >= me.max_queue:
            return None
        return expected_seconds(task, me.work, lambda a, c: action_seconds(a) / self._profile(c)[0],
                                self._profile(task.category)[1] * (1.0 - action_fail(task.action)))


def expected_seconds(task: Task, work: tuple[tuple[str, str], ...], seconds_per: Callable[[str, str], float],
                     p: float) -> float:
    """Seconds until `task` is done behind `work`: queued work, then the task retried after a ~30 s
    back-off until it succeeds (one try succeeds with probability `p`: expected tries 1/p).
    `seconds_per(action, category)` prices one try."""
    busy = sum(seconds_per(a, c) for a, c in work)
    return busy + (seconds_per(task.action, task.category) + 30.0) / max(p, 0.05) - 30.0


class RecordPolicy:
    """The central planner's bid with the specialist's own record in place of its true figures: speed is
    1 / slowness and success the success rate of its record in that category (both shrunk towards an
    average newcomer while the record is short; outside its skills, towards the declared penalty)."""

    name = "record"

    def bid(self, task: Task, me: BidderState, rng: np.random.Generator) -> float | None:
        if me.queue >= me.max_queue:
            return None
        record = me.outcomes or {}

        def estimate(category: str) -> tuple[float, float]:
            o = record.get(category, Outcomes())
            if category in me.skills:
                return 1.0 / o.slowness(), o.success_rate()
            speed, success = OUTSIDE_SKILLS
            return 1.0 / o.slowness_from(1.0 / speed), o.success_rate(prior=success)

        # the record's success share already holds its actions' own odds of failing
        return expected_seconds(task, me.work, lambda a, c: action_seconds(a) / estimate(c)[0],
                                estimate(task.category)[1])


def action_fail(action: str) -> float:
    kind = ACTIONS.get(action)
    return kind.fail_probability if kind else 0.05


class PolicyError(ValueError):
    """A policy that cannot be loaded (unknown name, missing or bad model file)."""


NAMED = ("random", "heuristic", "record", "central")


def _model_path(spec: str) -> Path | None:
    """The model file `spec` names (None: a named policy); PolicyError when it is neither."""
    if spec in NAMED:
        return None
    path = Path(spec)
    try:
        exists = path.exists()
    except OSError as exc:  # a name too long for a path (ENAMETOOLONG), ...
        raise PolicyError(f"unknown bidding policy ({exc.strerror}: {len(spec)} characters); use "
                          f"{', '.join(NAMED)} or a path to a .zip model") from None
    if path.suffix == ".zip" or exists:
        if not path.is_file():
            raise PolicyError(f"bidding policy model file not found: {path}")
        return path
    raise PolicyError(f"unknown bidding policy {spec!r}; use {', '.join(NAMED)} or a path to a .zip model")


def check_policy(spec: str) -> None:
    """Raise PolicyError unless `spec` names a policy that will load; a model file is checked against
    the bidding environment's spaces without importing torch (validation stays fast)."""
    path = _model_path(spec)
    if path is not None:
        try:
            from opstwin.rl.model_file import check_model_file
        except ImportError as exc:
            raise PolicyError(f"cannot check trained policy {path}: {exc}") from None
        check_model_file(path)


def load_policy(spec: str, profiles: dict[str, tuple[float, float]] | None = None,
                cache: dict[str, BiddingPolicy] | None = None) -> BiddingPolicy:
    """`random`, `heuristic`, `record`, `central` (given the specialist's true `profiles`), or a path to a policy
    trained by `opstwin train`. A model is loaded once per `cache` (a team shares one)."""
    path = _model_path(spec)
    if path is None:
        if spec == "central":
            return CentralPolicy(profiles)
        return {"random": RandomPolicy, "record": RecordPolicy}.get(spec, HeuristicPolicy)()
    key = str(path.resolve())
    if cache is not None and key in cache:
        return cache[key]
    check_policy(spec)
    try:
        from opstwin.rl.policy import TrainedPolicy  # imported lazily: torch is heavy
    except ImportError as exc:
        raise PolicyError(f"cannot load trained policy {path}: {exc}") from None
    policy = TrainedPolicy.load(path)
    if cache is not None:
        cache[key] = policy
    return policy
