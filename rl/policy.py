"""A bidding policy trained by ``opstwin train``, as specialists use it (CPU only, loaded once).

It implements :class:`agents.policies.BiddingPolicy`: the call for proposals and the bidder's own
state become the environment's observation (:mod:`opstwin.rl.features`), the network's most
likely action (deterministic: the same observation always gives the same bid, on every transport)
becomes a bid or a refusal. A full queue refuses without asking the network, as in training.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from opstwin.agents.messages import Task
from opstwin.agents.policies import BidderState
from opstwin.rl.features import cost_of, observe
from opstwin.rl.model_file import check_model_file


class TrainedPolicy:
    name = "rl"

    def __init__(self, model, path: Path) -> None:
        self.model = model
        self.path = path

    @classmethod
    def load(cls, path: Path | str) -> "TrainedPolicy":
        path = Path(path)
        check_model_file(path)
        import torch
        from stable_baselines3 import PPO

        torch.set_num_threads(1)  # one small MLP per bid: threads cost more than they give
        return cls(PPO.load(path, device="cpu"), path)

    def bid(self, task: Task, me: BidderState, rng: np.random.Generator) -> float | None:
        if me.queue >= me.max_queue:
            return None
        action, _ = self.model.predict(observe(task, me), deterministic=True)
        return cost_of(int(action), task, me)
