"""Training a shared bidding policy with PPO (stable-baselines3, CPU), top to bottom.

``train()`` is what ``opstwin train`` calls: it builds K copies of the bidding environment
(:class:`opstwin.rl.env.ContractNetBiddingEnv`; ``SubprocVecEnv`` when K > 1), trains PPO for N
environment steps with a progress bar, and writes four files beside ``out``:

- ``out`` itself: SB3's zip, plus ``opstwin.json`` inside it (the observation and action it
  expects; :mod:`opstwin.rl.model_file` checks it without torch);
- ``<stem>.json``: metadata: scenarios, seed ranges, steps, hyperparameters, versions, wall time,
  env steps per second, and the mean return of the last episodes;
- ``<stem>.rewards.csv``: one row per finished episode (steps so far, return, bids, scenario, seed);
- ``<stem>.rewards.png``: that progression, with a moving mean.

Seeding: ``seed`` seeds PPO (torch, numpy) and the environments (env k gets ``seed + k``, which
draws its scenarios and run seeds from the training range). On one machine, training is repeatable:
the same seed and steps give the same episodes, returns and bit-identical network weights
(``tests/test_rl_train.py`` trains twice; torch runs one thread on CPU, and the runs themselves
are deterministic). torch does not promise bit-identical results across machines or versions.
"""

from __future__ import annotations

import csv
import json
import platform
import time
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from opstwin.rl.env import TRAINING_SCENARIOS, TRAINING_SEEDS
from opstwin.rl.features import FEATURES_VERSION, N_ACTIONS, OBS_DIM
from opstwin.rl.model_file import MEMBER, stamp


@dataclass
class TrainConfig:
    """What a training run is; every field is recorded in the metadata JSON."""

    scenarios: Sequence[str] = TRAINING_SCENARIOS
    """library names or paths the episodes draw from"""
    steps: int = 50_000
    """environment steps (bids) in all"""
    seed: int = 0
    """seeds PPO and the environments"""
    envs: int = 1
    """environments stepped together (SubprocVecEnv when > 1)"""
    seeds: tuple[int, int] = TRAINING_SEEDS
    """inclusive range of run seeds episodes draw from (evaluation uses 1..N)"""
    history: int | None = None
    """past results every specialist's record starts with (None: as the training scenarios say)"""
    n_steps: int = 512
    """steps per environment between PPO updates"""
    batch_size: int = 128
    learning_rate: float = 3e-4
    gamma: float = 0.9
    """short horizon: a bid's outcome settles a few bids later"""
    gae_lambda: float = 0.9
    ent_coef: float = 0.01
    net_arch: list[int] = field(default_factory=lambda: [64, 64])


def _make_env(config: TrainConfig, rank: int) -> Callable[[], Any]:
    def make():
        import gymnasium as gym
        from stable_baselines3.common.monitor import Monitor

        import opstwin.rl  # noqa: F401  (registers the environment in a fresh subprocess)
        from opstwin.rl import ENV_ID

        env = gym.make(ENV_ID, scenarios=list(config.scenarios), seeds=config.seeds, history=config.history)
        env = Monitor(env, info_keywords=("scenario", "seed"))
        env.reset(seed=config.seed + rank)
        return env

    return make


def _callback(total: int, rows: list[dict[str, Any]], progress: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
    from stable_baselines3.common.callbacks import BaseCallback

    class Recorder(BaseCallback):
        """Collects finished episodes and drives a progress bar (steps, last mean return)."""

        def _on_training_start(self) -> None:
            self.bar = Progress(TextColumn("training"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[r]}"),
                                TimeRemainingColumn(), disable=not progress, transient=False)
            self.task = self.bar.add_task("ppo", total=total, r="")
            self.bar.start()

        def _on_step(self) -> bool:
            for info in self.locals.get("infos", []):
                ep = info.get("episode")
                if ep:
                    rows.append({"timesteps": self.num_timesteps, "episode": len(rows) + 1, "return": round(ep["r"], 4),
                                 "bids": int(ep["l"]), "scenario": info.get("scenario", ""), "seed": info.get("seed", "")})
            last = [r["return"] for r in rows[-10:]]
            mean = f"mean return (last {len(last)} episodes) {sum(last) / len(last):.2f}" if last else ""
            self.bar.update(self.task, completed=min(self.num_timesteps, total), r=mean)
            return True

        def _on_training_end(self) -> None:
            self.bar.stop()

    return Recorder()


def train(config: TrainConfig, out: Path, progress: bool = True, command: str | None = None) -> dict[str, Any]:
    """Train, write the four files (module docstring) and return the metadata (`command`: how to redo it)."""
    import gymnasium
    import stable_baselines3
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    import opstwin

    torch.set_num_threads(1)  # a 64x64 MLP: threads only contend with the simulation for the cores
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    makers = [_make_env(config, k) for k in range(config.envs)]
    venv = SubprocVecEnv(makers) if config.envs > 1 else DummyVecEnv(makers)
    n_steps = max(32, min(config.n_steps, config.steps // config.envs))
    batch = min(config.batch_size, n_steps * config.envs)
    model = PPO("MlpPolicy", venv, n_steps=n_steps, batch_size=batch, learning_rate=config.learning_rate,
                gamma=config.gamma, gae_lambda=config.gae_lambda, ent_coef=config.ent_coef,
                policy_kwargs={"net_arch": list(config.net_arch)}, seed=config.seed, device="cpu", verbose=0)
    rows: list[dict[str, Any]] = []
    t0 = time.perf_counter()  # clock-ok: reported speed, never a decision
    try:
        model.learn(total_timesteps=config.steps, callback=_callback(config.steps, rows, progress))
    finally:
        venv.close()
    wall = time.perf_counter() - t0  # clock-ok
    model.save(out)
    with zipfile.ZipFile(out, "a") as z:
        z.writestr(MEMBER, json.dumps(stamp(FEATURES_VERSION, OBS_DIM, N_ACTIONS), sort_keys=True))
    last = [r["return"] for r in rows[-20:]]
    meta = {
        "policy": out.name,
        "command": command,
        "config": {**asdict(config), "scenarios": [str(s) for s in config.scenarios], "seeds": list(config.seeds)},
        "timesteps": int(model.num_timesteps),
        "episodes": len(rows),
        "final_mean_return": round(sum(last) / len(last), 4) if last else None,
        "first_mean_return": round(sum(r["return"] for r in rows[:20]) / len(rows[:20]), 4) if rows else None,
        "wall_seconds": round(wall, 1),
        "env_steps_per_second": round(model.num_timesteps / wall, 1) if wall > 0 else None,
        "versions": {"opstwin": opstwin.__version__, "torch": torch.__version__,
                     "stable_baselines3": stable_baselines3.__version__, "gymnasium": gymnasium.__version__,
                     "python": platform.python_version()},
        "features_version": FEATURES_VERSION,
    }
    stem = out.with_suffix("")
    Path(f"{stem}.json").write_text(json.dumps(meta, indent=2) + "\n")
    with open(f"{stem}.rewards.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["timesteps", "episode", "return", "bids", "scenario", "seed"])
        w.writeheader()
        w.writerows(rows)
    _plot(rows, Path(f"{stem}.rewards.png"), config)
    return meta


def _plot(rows: list[dict[str, Any]], path: Path, config: TrainConfig) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(7, 3.5))
    if rows:
        x = np.array([r["timesteps"] for r in rows])
        y = np.array([r["return"] / max(1, r["bids"]) for r in rows])
        ax.plot(x, y, ".", alpha=0.4, label="episode (return per bid)")
        k = min(10, len(y))
        ax.plot(x[k - 1:], np.convolve(y, np.ones(k) / k, mode="valid"), "-", label=f"moving mean of {k}")
        ax.legend(loc="lower right")
    ax.set_xlabel("environment steps (bids)")
    ax.set_ylabel("return per bid")
    ax.set_title(f"PPO bidding on {', '.join(Path(str(s)).stem for s in config.scenarios)} (seed {config.seed})")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
