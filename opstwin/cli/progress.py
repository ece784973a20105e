"""Progress of a run on stderr (sim time, health) and the end-of-run summary table.

On a terminal: a live bar. Otherwise (a log file, CI): a plain line every 10% of sim time, so a
piped run is never silent for minutes. Sim time is always shown as `format_clock` (`2h13m`).
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from opstwin.twin.units import format_clock

Update = Callable[[Any, Any], None]


def _console(stderr: bool = True):
    from rich.console import Console  # imported when a run shows something, not at CLI start

    return Console(stderr=stderr, highlight=False)


def say(message: str, markup: bool = False) -> None:
    """One line on stderr (rich markup only if asked), e.g. what a run is starting."""
    _console().print(message, markup=markup)


def agent_count(scenario) -> int:
    """Agents a scenario's team has: monitor shards, diagnoser, coordinator, specialists, guard,
    control (the same count `agents.team.build_team` makes, without building it)."""
    services = len(scenario.topology.services) or 1
    spec = scenario.agents
    return min(spec.monitor.shards, services) + 4 + len(spec.specialists)


def starting_line(scenario, seed: int, *, agents: bool, transport: str, processes: int, xmpp: str | None) -> str:
    """What is about to happen, said before a run starts (SPADE takes seconds to come up)."""
    head = f"running {scenario.name} seed {seed}"
    if not agents:
        return f"{head} (no agents)"
    if transport == "inproc":
        return f"{head} (inproc)"
    n = agent_count(scenario)
    where = f"the XMPP server at {xmpp}" if xmpp else "the embedded XMPP server"
    verb = "connecting to" if xmpp else "starting"
    spread = f" in {processes} processes" if processes > 1 else ""
    return f"{head}: {verb} {where} and {n} agents{spread}…"


def progress_line(name: str, seed: int, t: float, total: float, health: float) -> str:
    """`ehr seed 1: 2h24m/24h (10%) health 0.998`"""
    pct = 100 * t / total if total else 100
    return f"{name} seed {seed}: {format_clock(t)}/{format_clock(total)} ({pct:.0f}%) health {health:.3f}"


def _plain(scenario, seed: int, console) -> Update:
    """A line every 10% of the run's ticks (and at the end)."""
    step = max(1, scenario.ticks // 10)

    def update(frame, _scenario) -> None:
        if frame.tick % step == 0 or frame.tick == scenario.ticks:
            console.print(progress_line(scenario.name, seed, frame.t, scenario.duration, frame.health),
                          markup=False)

    return update


@contextmanager
def live_progress(scenario, enabled: bool = True, seed: int | None = None) -> Iterator[Update | None]:
    """A progress callback for the runner: a bar on a terminal, periodic plain lines otherwise."""
    if not enabled:
        yield None
        return
    seed = scenario.seed if seed is None else seed
    console = _console()
    if not console.is_terminal:
        yield _plain(scenario, seed, console)
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("sim {task.fields[sim]}"),
        TextColumn("H={task.fields[health]}"), TimeElapsedColumn(), console=console, transient=True,
    )
    with bar:
        task = bar.add_task(f"{scenario.name} seed {seed}", total=scenario.ticks,
                            sim=f"0s/{format_clock(scenario.duration)}", health="1.000")
        every = max(1, scenario.ticks // 200)

        def update(frame, _scenario) -> None:
            if frame.tick % every == 0 or frame.tick == scenario.ticks:
                bar.update(task, completed=frame.tick, sim=f"{format_clock(frame.t)}/{format_clock(scenario.duration)}",
                           health=f"{frame.health:.3f}")

        yield update


def print_summary(summary: dict[str, Any], out: Path) -> None:
    from rich.table import Table

    table = Table(title=f"{summary['scenario']} (seed {summary['seed']})", show_header=False)
    h = summary["health"]
    table.add_row("simulated", format_clock(summary["sim_seconds"]))
    speed = f" ({summary['speedup']:,.0f}x real time)" if summary.get("speedup") else ""
    table.add_row("wall time", f"{summary['wall_seconds']:.2f} s{speed}")
    table.add_row("health", f"min {h['min']:.3f}  mean {h['mean']:.3f}  final {h['final']:.3f}")
    for fault in summary.get("faults", []):
        status = "resolved" if fault.get("resolved_at") is not None else "open"
        table.add_row(f"fault {fault['id']}", f"{fault['type']} on {fault['target']} ({status})")
    llm = summary.get("llm")
    if llm:  # the diagnoser asked a local model (its calls are among the metrics)
        table.add_row("reasoner", f"{llm['backend']}:{llm['model']} at {llm['host']} ({llm['status']})")
    for key, value in summary.get("metrics", {}).items():
        table.add_row(key, f"{value:.3f}" if isinstance(value, float) else str(value))
    table.add_row("incident log", f"{out / 'incidents.jsonl'} (sha256 {summary['log_sha256'][:12]}...)")
    _console(stderr=False).print(table)
