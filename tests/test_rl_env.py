"""The bidding environment: registered with Gymnasium, passes Gymnasium's and SB3's checkers, is
seeded through reset(seed=...), and its dynamics are a real run of the engine."""

import gymnasium as gym
import numpy as np
import pytest

import opstwin.rl  # noqa: F401  (registers the environment)
from opstwin.rl import ENV_ID

DRILL = ["contention-drill"]


@pytest.fixture
def env():
    e = gym.make(ENV_ID, scenarios=DRILL, max_steps=40)
    yield e
    e.close()


def test_gymnasium_check_env_passes(env):
    from gymnasium.utils.env_checker import check_env

    check_env(env.unwrapped, skip_render_check=True)


def test_sb3_check_env_passes(env):
    from stable_baselines3.common.env_checker import check_env

    check_env(env.unwrapped, warn=True)


def test_the_same_seed_gives_the_same_episode_and_another_seed_another(env):
    def roll(seed):
        obs, info = env.reset(seed=seed)
        out = [obs]
        for k in range(25):
            obs, r, term, trunc, _ = env.step(k % 7)
            out += [obs, np.array([r])]
            if term or trunc:
                break
        return info, np.concatenate(out)

    a, b, c = roll(5), roll(5), roll(6)
    assert a[0] == b[0] and np.array_equal(a[1], b[1])
    assert a[0] != c[0] or not np.array_equal(a[1], c[1])


def test_an_episode_is_a_whole_run_and_rewards_come_from_it():
    env = gym.make(ENV_ID, scenarios=DRILL)
    obs, info = env.reset(seed=3)
    assert env.observation_space.contains(obs)
    steps, rewards = 0, []
    while True:
        obs, r, term, trunc, _ = env.step(3)  # bid the heuristic's estimate
        steps, rewards = steps + 1, rewards + [r]
        if term or trunc:
            break
    summary = env.unwrapped.episode["summary"]
    assert term and summary["completed"] and summary["metrics"]["faults_injected"] > 5
    assert steps > 50 and any(r != 0 for r in rewards)
    env.close()


def test_history_gives_every_specialist_a_past_record_to_train_with():
    env = gym.make(ENV_ID, scenarios=DRILL, max_steps=5, history=20)
    obs, _ = env.reset(seed=4)
    records = [a.outcomes for a in env.unwrapped._sim.team.agents if a.role == "specialist"]
    assert records and all(sum(o.done for o in r.values()) >= 20 for r in records)
    assert obs[11] > 0  # experience in the task's category: the first call already sees a record
    env.close()
    with pytest.raises(ValueError, match="history"):
        gym.make(ENV_ID, scenarios=DRILL, history=-1)
