"""``opstwin train``: PPO for the shared bidding policy (:mod:`opstwin.rl.train`). Thin: parse, check, call."""

from __future__ import annotations

from pathlib import Path

import click

from opstwin.cli.common import fail, probe_writable


@click.command("train")
@click.option("--scenarios", "scenarios", multiple=True, metavar="NAME|FILE[,...]",
              help="training scenarios (repeat or comma-separate; default: contention-drill)")
@click.option("--steps", type=click.IntRange(min=64), default=50_000, show_default=True,
              help="environment steps (bids) to train for")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="seeds PPO and the environments")
@click.option("--envs", type=click.IntRange(1, 64), default=1, show_default=True,
              help="environments stepped together (SubprocVecEnv when more than 1)")
@click.option("--history", type=click.IntRange(0, 1000), default=None,
              help="past results every specialist's record starts with (default: as the scenarios say)")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="the policy zip to write")
@click.option("--force", is_flag=True, help="write over an existing policy zip")
@click.option("-q", "--quiet", is_flag=True, help="no progress bar")
def train_cmd(scenarios: tuple[str, ...], steps: int, seed: int, envs: int, history: int | None, out: Path,
              force: bool, quiet: bool) -> None:
    """Train a bidding policy with PPO on CPU; writes OUT (.zip) and, beside it, OUT's .json metadata,
    .rewards.csv and .rewards.png; prints env steps/s."""
    from opstwin.scenarios.library import NotFound, resolve

    if out.suffix != ".zip":
        fail(f"--out {out}: a policy is a .zip file")
    if out.exists() and not force:
        fail(f"--out {out}: exists; pick another or add --force to write over it")
    try:
        probe_writable(out.parent if str(out.parent) else Path("."))
    except OSError as exc:
        fail(f"--out {out}: cannot write there ({exc.strerror or exc})")
    names = [s.strip() for arg in scenarios for s in arg.split(",") if s.strip()]
    try:
        from opstwin.rl.env import TRAINING_SCENARIOS
        from opstwin.rl.train import TrainConfig, train
    except ImportError as exc:
        fail(f"opstwin train needs the rl extra (pip install 'opstwin[rl]'): {exc}")
    from opstwin.cli.main import load_or_exit

    names = names or list(TRAINING_SCENARIOS)
    for name in names:  # every scenario valid before the first step (library names are recorded as such)
        try:
            load_or_exit(resolve(name))
        except NotFound as exc:
            fail(str(exc))
    config = TrainConfig(scenarios=names, steps=steps, seed=seed, envs=envs, history=history)
    click.echo(f"training PPO on {', '.join(names)}: {steps} steps, seed {seed}, {envs} env(s)", err=True)
    command = " ".join(["opstwin train", *(f"--scenarios {n}" for n in names if scenarios), f"--steps {steps}",
                        f"--seed {seed}", *([f"--envs {envs}"] if envs > 1 else []),
                        *([f"--history {history}"] if history is not None else []), f"--out {out}"])
    meta = train(config, out, progress=not quiet, command=command)
    stem = out.with_suffix("")
    click.echo(f"wrote {out} ({meta['timesteps']} steps, {meta['episodes']} episodes, final mean return "
               f"{meta['final_mean_return']}) and {stem}.json, {stem}.rewards.csv, {stem}.rewards.png")
    click.echo(f"{meta['env_steps_per_second']:,} env steps/s ({meta['wall_seconds']} s)")
