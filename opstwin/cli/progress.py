"""Terminal progress (sim time, health) and the end-of-run summary table."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from opstwin.twin.units import format_duration

console = Console(stderr=True, highlight=False)


@contextmanager
def live_progress(scenario, enabled: bool = True) -> Iterator:
    """A progress callback for the runner: a bar on a terminal, nothing otherwise."""
    if not enabled or not console.is_terminal:
        yield None
        return
    bar = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("sim {task.fields[sim]}"),
        TextColumn("H={task.fields[health]}"), TimeElapsedColumn(), console=console, transient=True,
    )
    with bar:
        task = bar.add_task(scenario.name, total=scenario.ticks, sim="0s", health="1.000")
        every = max(1, scenario.ticks // 200)

        def update(frame, _scenario) -> None:
            if frame.tick % every == 0 or frame.tick == scenario.ticks:
                bar.update(task, completed=frame.tick, sim=format_duration(frame.t), health=f"{frame.health:.3f}")

        yield update


def print_summary(summary: dict[str, Any], out: Path) -> None:
    table = Table(title=f"{summary['scenario']} (seed {summary['seed']})", show_header=False)
    h = summary["health"]
    table.add_row("simulated", format_duration(summary["sim_seconds"]))
    speed = f" ({summary['speedup']:,.0f}x real time)" if summary.get("speedup") else ""
    table.add_row("wall time", f"{summary['wall_seconds']:.2f} s{speed}")
    table.add_row("health", f"min {h['min']:.3f}  mean {h['mean']:.3f}  final {h['final']:.3f}")
    for fault in summary.get("faults", []):
        status = "resolved" if fault.get("resolved_at") is not None else "open"
        table.add_row(f"fault {fault['id']}", f"{fault['type']} on {fault['target']} ({status})")
    for key, value in summary.get("metrics", {}).items():
        table.add_row(key, f"{value:.3f}" if isinstance(value, float) else str(value))
    table.add_row("incident log", f"{out / 'incidents.jsonl'} (sha256 {summary['log_sha256'][:12]}...)")
    Console(highlight=False).print(table)
