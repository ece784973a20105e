"""Series for runs made without ``--record-series``: replay them with the recorder on.

A run is a pure function of its scenario, seed and variant (the superstep rule), so replaying it
gives the very run again, now with its telemetry series; the replay's ``log_sha256`` must equal the
run's, or the export stops (the scenario file changed since, or the code did). Ordinary runs and
evals thus stay fast, and any of them can still be exported later.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from opstwin.engine.series import SERIES_FILE


class ReplayError(ValueError):
    """A run that cannot be replayed exactly (one line, exit 2)."""


def eval_records(eval_dir: Path) -> tuple[dict[str, dict[str, Any]], dict[str, list[str]]]:
    """An eval folder's run records by run folder (``<variant>/<scenario>-<seed>``, so a moved eval
    folder still finds them), and its variants' overrides."""
    results = json.loads((eval_dir / "results.json").read_text())
    records = {run_key(Path(r["out"])): r for r in results.get("runs", []) if r.get("out")}
    return records, results.get("variants", {})


def run_key(run_dir: Path) -> str:
    """An eval run folder's name within the eval: ``<variant>/<scenario>-<seed>``."""
    return f"{run_dir.parent.name}/{run_dir.name}"


def _scenario(run_dir: Path, summary: dict[str, Any], record: dict[str, Any] | None,
              variants: dict[str, list[str]]):
    """The scenario the run was made from: the eval's file under its variant, or a library name."""
    from opstwin.evaluation.evaluate import _scenario_for
    from opstwin.scenarios.library import NotFound, resolve
    from opstwin.scenarios.overrides import Variant, parse_override

    if record is not None:
        name = record.get("variant", "baseline")
        file = Path(record["file"])
        if not file.is_file():
            try:
                file = resolve(summary["scenario"])
            except NotFound:
                raise ReplayError(f"{run_dir}: scenario file {record['file']} not found (run "
                                  "`opstwin rca export` from where the eval ran, or eval with --record-series)") from None
        return _scenario_for(file, Variant(name, [parse_override(o) for o in variants.get(name, [])]))
    try:
        return _scenario_for(resolve(summary["scenario"]), Variant("baseline"))
    except NotFound:
        raise ReplayError(f"{run_dir}: no recorded series ({SERIES_FILE}) and {summary['scenario']!r} is not a "
                          "library scenario to replay; run it again with --record-series") from None


def replay(run_dir: Path, work: Path, record: dict[str, Any] | None = None,
           variants: dict[str, list[str]] | None = None, say: Callable[[str], None] = lambda s: None) -> Path:
    """Replay the run in `run_dir` into `work` with its series recorded; the replay's folder."""
    from opstwin.engine.runner import run

    summary = json.loads((run_dir / "summary.json").read_text())
    scenario = _scenario(run_dir, summary, record, variants or {})
    say(f"replaying {run_dir.name} (seed {summary['seed']}) to record its series")
    again = run(scenario, seed=summary["seed"], out=work, agents=bool(summary.get("agents")), record_series=True)
    if again["log_sha256"] != summary.get("log_sha256"):
        raise ReplayError(f"{run_dir}: a replay gives another incident log (the scenario or the code changed since); "
                          "run it again with --record-series")
    return work
