"""`opstwin train`: a few thousand PPO steps write a policy zip, its metadata, reward CSV and PNG;
the policy then loads and bids in a scenario run."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from opstwin.engine.simulation import Simulation
from opstwin.scenarios.loader import load

ROOT = Path(__file__).parents[1]


@pytest.mark.slow
def test_a_short_training_writes_a_policy_that_runs_in_a_scenario(tmp_path):
    out = tmp_path / "p.zip"
    res = subprocess.run([sys.executable, "-m", "opstwin.cli.main", "train", "--steps", "2048", "--seed", "3",
                          "--out", str(out), "-q"], capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr
    assert "env steps/s" in res.stdout
    meta = json.loads((tmp_path / "p.json").read_text())
    assert meta["timesteps"] >= 2048 and meta["config"]["scenarios"] == ["contention-drill"]
    assert meta["versions"]["torch"].startswith("2.13.0") and meta["env_steps_per_second"] > 0
    rows = list(csv.DictReader(open(tmp_path / "p.rewards.csv")))
    assert rows and {"timesteps", "return", "bids", "scenario", "seed"} <= set(rows[0])
    assert (tmp_path / "p.rewards.png").stat().st_size > 1000

    scenario = load(ROOT / "scenarios" / "contention" / "contention-drill.yaml")
    for spec in scenario.agents.specialists:
        spec.policy = str(out)
    sim = Simulation(scenario, seed=1)
    sim.start()
    assert {a.policy.name for a in sim.team.agents if a.role == "specialist"} == {"rl"}
    summary = sim.run()
    bids = [e for e in sim.log.events if e["kind"] == "msg" and e["type"] == "bid"]
    assert bids and summary["metrics"]["faults_resolved"] > 0


@pytest.mark.slow
def test_training_is_repeatable_the_same_seed_gives_the_same_policy(tmp_path):
    """Same seed and steps, same machine: the same episodes, returns and network weights, bit for bit
    (PPO, torch and the environments all draw from the seed; torch runs one thread on CPU)."""
    import torch
    from stable_baselines3 import PPO

    from opstwin.rl.train import TrainConfig, train

    metas, weights, rewards = [], [], []
    for name in ("a", "b"):
        out = tmp_path / name / "p.zip"
        metas.append(train(TrainConfig(steps=320, seed=5, n_steps=160, batch_size=80), out, progress=False))
        weights.append(PPO.load(out, device="cpu").policy.state_dict())
        rewards.append((tmp_path / name / "p.rewards.csv").read_text())
    assert metas[0]["episodes"] >= 1 and metas[0]["final_mean_return"] is not None
    assert metas[0]["final_mean_return"] == metas[1]["final_mean_return"]
    assert rewards[0] == rewards[1]
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    # and the training did move the weights away from another seed's
    other = train(TrainConfig(steps=320, seed=6, n_steps=160, batch_size=80), tmp_path / "c" / "p.zip", progress=False)
    assert other["config"]["seed"] == 6
    third = PPO.load(tmp_path / "c" / "p.zip", device="cpu").policy.state_dict()
    assert not all(torch.equal(weights[0][k], third[k]) for k in weights[0])
