"""Learned Contract-Net bidding: the Gymnasium environment (:mod:`opstwin.rl.env`), training with
SB3 PPO (:mod:`opstwin.rl.train`) and the trained policy specialists load by path
(:mod:`opstwin.rl.policy`). Importing this package registers ``opstwin/ContractNetBidding-v0``
(when gymnasium, from the ``rl`` extra, is installed); the environment module itself is imported
only by ``gymnasium.make``.
"""

try:
    import gymnasium as _gym
except ImportError:  # the core install: specialists still run random, heuristic and central
    _gym = None

ENV_ID = "opstwin/ContractNetBidding-v0"

if _gym is not None and ENV_ID not in _gym.registry:
    _gym.register(id=ENV_ID, entry_point="opstwin.rl.env:ContractNetBiddingEnv")
