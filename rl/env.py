"""The Contract-Net bidding environment: one call for proposals to the learning bidder per step."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import gymnasium as gym
import numpy as np
from greenlet import GreenletExit, greenlet
from gymnasium import spaces

from opstwin.agents.messages import Task
from opstwin.agents.policies import BidderState
from opstwin.engine.simulation import Simulation
from opstwin.rl.features import N_ACTIONS, OBS_DIM, base_cost, cost_of, observe
from opstwin.scenarios.library import resolve
from opstwin.scenarios.loader import load
from opstwin.scenarios.schema import Scenario

TRAINING_SCENARIOS = ("contention-drill",)  # the library contention scenarios are held out for evaluation
TRAINING_SEEDS = (1000, 9999)  # inclusive; `opstwin eval` uses seeds 1..N, never these
FAILED_PENALTY = 1.0  # a failed action costs its nominal time again on top (the retry), and this
UNDO_PENALTY = 1.0
NO_BIDS_PENALTY = 0.5  # to each refuser of an auction that got no bid at all
IDLE_REFUSAL_PENALTY = 0.1  # refusing work in one's skills with an empty queue (idle time)
REWARD_RANGE = (-3.0, 1.0)


@dataclass
class _Bid:
    """A bid placed at a step, waiting for its auction and (if won) its action to settle."""

    bidder: str
    task: str
    t: float
    estimate: float  # the heuristic's estimate at bid time (seconds), the yardstick of the outcome
    won: bool = False


class _Learner:
    """The bidding policy every specialist of the episode holds (one shared policy): it hands the
    call for proposals to the agent driving the environment and waits for the answer."""

    name = "learner"

    def __init__(self, env: "ContractNetBiddingEnv") -> None:
        self.env = env

    def bid(self, task: Task, me: BidderState, rng: np.random.Generator) -> float | None:
        if me.queue >= me.max_queue:
            return None  # no room: nothing to decide
        action = greenlet.getcurrent().parent.switch(("bid", observe(task, me), task, me))
        return self.env._placed(int(action), task, me)


class ContractNetBiddingEnv(gym.Env):
    """
    ## Description

    The Contract-Net marketplace of opstwin's agent team, seen from one bidder. An episode is one
    run of a scenario drawn from a training set (the real twin, fault injector and agent team on
    the in-process bus, stepped tick by tick through the run engine,
    :class:`opstwin.engine.simulation.Simulation`). Whenever the coordinator sends a call for
    proposals to a specialist with room in its queue, the run pauses and the environment returns
    that call as an observation; the action is that specialist's answer, and the run goes on until
    the next call for proposals. Auctions, awards, the guard, the control plane and the twin's
    outcome of the action all happen as in ``opstwin run``.

    **One shared policy for all specialists.** Every specialist of the episode bids through the
    policy being learned, and sees only its own state. Why shared: specialists differ in what
    their record says (speed and success per category), not in what a good answer to a given
    record is, so one policy conditioned on the record serves a team of any size, including
    specialists it never saw (the night shift, a 64-specialist team), and each auction gives
    several samples of experience instead of one. A policy per specialist would learn one name's
    quirks from a twelfth of the data and could not be moved to another team.

    ## Action Space

    ``Discrete(7)``: 0 refuses; 1..6 bid the heuristic estimate (queued seconds plus the
    action's nominal seconds, doubled outside one's skills) times 0.5, 0.7, 1, 1.4, 2, 3
    (:mod:`opstwin.rl.features`). The cheapest bid wins (ties by name).

    ## Observation Space

    ``Box(-1, 1, (18,), float32)``: the task's category (one-hot), whether it is in the bidder's
    skills, the action's nominal duration, the attempt number; the bidder's queue and queued
    seconds; its own success rate, slowness (realised against nominal seconds) and experience in
    this category, and its success rate and slowness over all categories; then what the call for
    proposals says of the work: the diagnosis' confidence in the fix's candidate, that candidate's
    alert severity (the health the team observes of it, never the twin's H), the incident's age,
    and how many specialists were asked (:mod:`opstwin.rl.features` has the scaling). All of it is
    what a specialist can know: never its true speed or success, never other bidders' state.

    ## Rewards

    Per bid, once it has settled, from what happened in the twin; delivered at the step at
    which it settled (so a step's reward can be an earlier bid's outcome, typically a few steps
    later: the discount and GAE carry it back):

    - lost auction: 0;
    - won: ``1 - realised / estimate``, clipped to [-3, 1], where ``realised`` is the seconds from
      the bid to the action's result (queue, approval and the action itself; a failure adds the
      estimate again, the retry it causes, and ``FAILED_PENALTY``) and ``estimate`` the heuristic
      estimate at bid time: an average specialist earns about 0, a fast and reliable one up to +0.5,
      a slow or failing one down to -3. So winning work one does badly is worse than losing it;
    - the guard undid the action (it made things worse): ``-UNDO_PENALTY``;
    - an auction that got no bid at all: ``-NO_BIDS_PENALTY`` to each refuser (the work waits);
    - refusing work in one's skills with an empty queue: ``-IDLE_REFUSAL_PENALTY`` at once.

    ## Starting State

    ``reset(seed=...)`` seeds ``self.np_random``, which draws the scenario (from ``scenarios``)
    and the run's seed (from ``seeds``); the run is then deterministic. The first observation
    is the run's first call for proposals (after the monitors' warm-up and the first incident).

    ## Episode End

    Terminated when the run reaches its scenario's duration (the final observation is zeros).
    Truncated after ``max_steps`` bids if it is set (time limits otherwise belong to a wrapper).

    ## Arguments

    ``gymnasium.make("opstwin/ContractNetBidding-v0", scenarios=TRAINING_SCENARIOS,
    seeds=TRAINING_SEEDS, max_steps=None, history=None)``: ``scenarios``, library names or paths;
    ``seeds``, an inclusive (low, high) range of run seeds (evaluation uses 1..N, disjoint);
    ``max_steps``, bids per episode before truncation (None: the whole run); ``history``, past
    results every specialist's record starts with (sets each specialist's ``history``; None: as the
    scenarios say), so a policy can be trained for teams that know their record.

    ## Version History

    - v0: first version (features version 1: 14 floats).
    - v0, features version 2: the call for proposals' confidence, severity, incident age and number
      of bidders appended (18 floats); models of version 1 are refused at validation.
    """

    metadata = {"render_modes": []}

    def __init__(self, scenarios: Sequence[str | Path] = TRAINING_SCENARIOS,
                 seeds: tuple[int, int] = TRAINING_SEEDS, max_steps: int | None = None,
                 history: int | None = None) -> None:
        if not scenarios:
            raise ValueError("ContractNetBidding needs at least one scenario")
        if seeds[1] < seeds[0]:
            raise ValueError(f"seeds {seeds}: the range is empty")
        self.scenario_files = [resolve(s) for s in scenarios]
        self.seeds = (int(seeds[0]), int(seeds[1]))
        self.max_steps = max_steps
        if history is not None and not 0 <= history <= 1000:
            raise ValueError(f"history {history}: past results per specialist must be in 0..1000")
        self.history = history
        self.observation_space = spaces.Box(-1.0, 1.0, (OBS_DIM,), dtype=np.float32)
        self.action_space = spaces.Discrete(N_ACTIONS)
        self._scenarios: dict[Path, Scenario] = {}
        self._sim: Simulation | None = None
        self._runner: greenlet | None = None
        self._bids: dict[tuple[str, str], _Bid] = {}
        self._refusers: dict[str, list[str]] = {}
        self._actions: dict[str, tuple[str, str]] = {}  # action id -> (bidder, task)
        self._reward = 0.0
        self._steps = 0
        self._pending: tuple[str, np.ndarray, Task, BidderState] | None = None
        self.episode: dict[str, Any] = {}

    # ----------------------------------------------------------------- gym API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self._stop()
        for _ in range(20):  # a run with no call for proposals at all has no step: draw another
            path = self.scenario_files[int(self.np_random.integers(len(self.scenario_files)))]
            run_seed = int(self.np_random.integers(self.seeds[0], self.seeds[1] + 1))
            if self._start(path, run_seed):
                return self._pending[1].copy(), {"scenario": self.episode["scenario"], "seed": run_seed}
        raise RuntimeError("no call for proposals in 20 runs of the training scenarios")

    def step(self, action):
        if self._runner is None or self._pending is None:
            raise RuntimeError("call reset() before step()")
        self._reward = 0.0
        self._steps += 1
        self._resume(int(action))
        reward = float(self._reward)
        self.episode["return"] = self.episode.get("return", 0.0) + reward
        terminated = self._pending is None
        truncated = not terminated and self.max_steps is not None and self._steps >= self.max_steps
        obs = np.zeros(OBS_DIM, dtype=np.float32) if terminated else self._pending[1].copy()
        if terminated:
            self.episode["summary"] = self._sim.summary
        return obs, reward, terminated, truncated, {"scenario": self.episode["scenario"], "seed": self.episode["seed"]}

    def close(self) -> None:
        self._stop()

    # ---------------------------------------------------------------- the run
    def _load(self, path: Path) -> Scenario:
        if path not in self._scenarios:
            self._scenarios[path] = load(path)
        scenario = self._scenarios[path].model_copy(deep=True)
        for spec in scenario.agents.specialists:
            spec.policy = "heuristic"  # replaced below by the shared learner
            if self.history is not None:
                spec.history = self.history
        return scenario

    def _start(self, path: Path, run_seed: int) -> bool:
        scenario = self._load(path)
        sim = Simulation(scenario, seed=run_seed)
        sim.on_event(self._on_event)
        sim.start()
        learner = _Learner(self)
        for agent in sim.team.agents:
            if agent.role == "specialist":
                agent.policy = learner
        self._sim = sim
        self._bids, self._refusers, self._actions = {}, {}, {}
        self._steps = 0
        self.episode = {"scenario": scenario.name, "seed": run_seed, "return": 0.0}
        self._runner = greenlet(self._drive)
        self._pending = None
        self._resume(None)
        if self._pending is None:
            self._stop()
            return False
        return True

    def _drive(self, _: Any = None) -> tuple[str]:
        sim = self._sim
        while not sim.done:
            sim.step()
        sim.finish()
        return ("done",)

    def _resume(self, value: Any) -> None:
        """Run the simulation until the next call for proposals (or its end)."""
        got = self._runner.switch(value)
        self._pending = got if got and got[0] == "bid" else None

    def _stop(self) -> None:
        if self._runner is not None and not self._runner.dead:
            try:
                self._runner.throw(GreenletExit)
            except GreenletExit:
                pass
        self._runner, self._pending = None, None

    # ------------------------------------------------------------- rewards
    def _placed(self, action: int, task: Task, me: BidderState) -> float | None:
        cost = cost_of(action, task, me)
        if cost is None:
            self._refusers.setdefault(task.task, []).append(me.name)
            if me.queue == 0 and task.category in me.skills:
                self._reward -= IDLE_REFUSAL_PENALTY
        else:
            self._bids[(me.name, task.task)] = _Bid(me.name, task.task, self._sim.now, base_cost(task, me))
        return cost

    def _on_event(self, e: dict[str, Any]) -> None:
        kind = e["kind"]
        if kind == "msg":
            body, typ, perf = e["body"], e["type"], e["perf"]
            if typ == "award":
                bid = self._bids.get((e["to"], body["task"]))
                if bid is not None and perf == "accept-proposal":
                    bid.won = True
                elif bid is not None:
                    del self._bids[(e["to"], body["task"])]  # lost: 0
            elif typ == "action_result" and e["to"] != "guard":
                if perf == "agree" and body.get("action_id"):
                    self._actions[body["action_id"]] = (e["to"], body["task"])
                elif perf in ("inform-done", "failure") and e["from"] != "control" and e["to"] == "coordinator":
                    self._settle(e["from"], body["task"], e["t"], body["status"])
        elif kind == "no_bids":
            for name in self._refusers.pop(e.get("task", ""), []):
                self._reward -= NO_BIDS_PENALTY
        elif kind == "action_undone" and e.get("action_id") in self._actions:
            self._reward -= UNDO_PENALTY

    def _settle(self, bidder: str, task: str, t: float, status: str) -> None:
        bid = self._bids.pop((bidder, task), None)
        if bid is None or not bid.won or status not in ("succeeded", "failed"):
            return
        realised = t - bid.t
        penalty = 0.0
        if status == "failed":
            realised += bid.estimate
            penalty = FAILED_PENALTY
        r = 1.0 - realised / max(bid.estimate, 1.0) - penalty
        self._reward += float(np.clip(r, *REWARD_RANGE))
