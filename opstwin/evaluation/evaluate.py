"""Seeded evaluation: plan runs (scenario x seed x variant), execute them, collect results.

``opstwin eval`` calls :func:`evaluate`. Every run is the engine (``opstwin.engine.runner.execute``)
with the agent team, deterministic given (scenario, seed, variant), writing its incident log, summary and health into
``DIR/runs/<variant>/<scenario>-<seed>/``. Runs execute in-process (``jobs=1``), in local worker
processes (``jobs>1``) or on an existing Dask cluster (``dask=ADDRESS``); the results are the same.

As runs finish, each result is appended to ``DIR/results.jsonl`` (so even a killed eval keeps its
finished runs) and ``results.json``/``results.csv`` are refreshed every few seconds; at the end (or
on Ctrl-C) they are written in plan order, which does not depend on the executor or on the order
in which runs finished. A run that raises is recorded with its error and the others go on.
"""

from __future__ import annotations

import csv
import json
import os
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import yaml

from opstwin.scenarios.errors import Problem, ScenarioError
from opstwin.scenarios.loader import load, parse
from opstwin.scenarios.overrides import BASELINE, OverrideError, Variant, apply
from opstwin.scenarios.schema import Scenario

RUN_FIELDS = ("scenario", "seed", "variant", "status", "log_sha256")
PERF_FIELDS = ("wall_seconds", "speedup")


@dataclass(frozen=True)
class Job:
    """One run to make; picklable, so it can go to a worker process or a Dask worker."""

    index: int
    scenario: Scenario
    file: str
    seed: int
    variant: str
    out: str  # absolute run folder
    transport: str = "inproc"
    timeline: bool = False  # also return the health series and fault markers (for the plot)
    record_series: bool = False  # also write the run's telemetry series (opstwin.engine.series)

    @property
    def name(self) -> str:
        return self.scenario.name

    @property
    def label(self) -> str:
        return f"{self.variant} {self.scenario.name} seed {self.seed}"


@dataclass
class Plan:
    jobs: list[Job]
    files: list[str]
    scenarios: list[str]
    seeds: list[int]
    variants: list[Variant]


class EvalError(ValueError):
    """Bad input for an eval (one line per problem, for the CLI; exit 2)."""


def runner_transports() -> tuple[str, ...]:
    """Transports a run can use."""
    return ("inproc", "spade")


def _scenario_for(file: Path, variant: Variant) -> Scenario:
    scenario = load(file)  # the file must be valid as written; then the overrides go on its data
    if not variant.overrides:
        return scenario
    data = yaml.safe_load(file.read_text(encoding="utf-8"))
    try:
        changed = apply(data, variant.overrides, str(file))
    except OverrideError as exc:
        raise EvalError(f"variant {variant.name}: {exc}") from None
    try:
        return parse(changed, f"{file} (variant {variant.name})")
    except ScenarioError as exc:
        raise ScenarioError(exc.problems[:1]) from None


def plan(files: Iterable[Path], seeds: int | list[int], variants: list[Variant], out: Path,
         transport: str = "inproc", record_series: bool = False) -> Plan:
    """Validate every scenario under every variant and list the runs (variant, scenario, seed order)."""
    files = list(files)
    seed_list = list(range(1, seeds + 1)) if isinstance(seeds, int) else list(seeds)
    if not seed_list:
        raise EvalError("no seeds to run (--seeds must be at least 1)")
    if transport not in runner_transports():
        raise EvalError(f"transport {transport!r} is not available to the runner "
                        f"(available: {', '.join(runner_transports())})")
    out = Path(out).resolve()
    loaded: dict[tuple[str, str], Scenario] = {}
    names: dict[str, str] = {}
    for f in files:
        for v in variants:
            s = _scenario_for(Path(f), v)
            loaded[(v.name, str(f))] = s
        name = loaded[(variants[0].name, str(f))].name
        if name in names:
            raise ScenarioError([Problem(str(f), "name", f"scenario name {name!r} is also used by {names[name]}")])
        names[name] = str(f)
    jobs: list[Job] = []
    for v in variants:
        for f in files:
            s = loaded[(v.name, str(f))]
            for seed in seed_list:
                jobs.append(Job(len(jobs), s, str(f), seed, v.name, str(out / "runs" / v.name / f"{s.name}-{seed}"),
                                transport, timeline=(v.name == BASELINE and seed == seed_list[0]),
                                record_series=record_series))
    return Plan(jobs, [str(f) for f in files], list(names), seed_list, variants)


# ---- one run (in a worker) ---------------------------------------------------------------------

def execute(job: Job) -> dict[str, Any]:
    """Run one job and return its result record; never raises (errors are recorded)."""
    started = time.perf_counter()  # clock-ok: reported only
    try:
        return _execute(job)
    except Exception as exc:  # noqa: BLE001 - a failed run is a result, the eval goes on
        tb = traceback.format_exception(exc)
        return {**_base(job), "status": "error", "error": f"{type(exc).__name__}: {exc}",
                "traceback": "".join(tb[-6:]), "metrics": {},
                "wall_seconds": round(time.perf_counter() - started, 3)}  # clock-ok


def _base(job: Job) -> dict[str, Any]:
    return {"scenario": job.name, "seed": job.seed, "variant": job.variant, "file": job.file,
            "out": job.out, "index": job.index}


def _execute(job: Job) -> dict[str, Any]:
    """One run through the engine; the record is built from the run's own results (no files re-read)."""
    from opstwin.engine import runner

    sim = runner.execute(job.scenario, seed=job.seed, out=job.out, agents=True, transport=job.transport,
                         record_series=job.record_series)
    summary = sim.summary
    record = {**_base(job), "status": "ok", "error": None, "log_sha256": summary["log_sha256"],
              "sim_seconds": summary["sim_seconds"], "events": summary.get("events"),
              "messages": summary.get("messages"), "health": summary.get("health"),
              "metrics": dict(summary.get("metrics", {})), "faults": [_fault_row(f) for f in summary["faults"]],
              "wall_seconds": summary.get("wall_seconds"), "speedup": summary.get("speedup")}
    if job.timeline:
        series = sim.health_series()
        record["timeline"] = {"t": series[:, 0].tolist(), "health": series[:, 1].tolist()}
    return record


FAULT_ROW = ("id", "type", "target", "start", "resolved_at")


def _fault_row(f: dict[str, Any]) -> dict[str, Any]:
    """A fault in results.json: its ground truth and what the team did about it (opstwin.evaluation.metrics)."""
    from opstwin.evaluation.metrics import FAULT_FIELDS

    return {k: f.get(k) for k in (*FAULT_ROW, *FAULT_FIELDS, "rca_ac1", "rca_ac3", "rca_type_ac1", "rca_type_ac3",
                                  "mitigated", "fixed_late")}


# ---- executing a plan --------------------------------------------------------------------------

def _one_thread() -> None:
    """Worker processes: one BLAS/OpenMP thread each (K workers on K cores, not K x cores threads).
    Ctrl-C is the parent's business: it stops the workers itself (no traceback from each of them)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:  # pragma: no cover - sklearn brings threadpoolctl
        pass


def _run_local(jobs: list[Job], workers: int, done: Callable[[dict[str, Any]], None]) -> None:
    if workers <= 1:
        for job in jobs:
            done(execute(job))
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    pool = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"), initializer=_one_thread)
    futures: dict[Any, Job] = {}
    recorded: set[int] = set()
    try:
        futures = {pool.submit(execute, job): job for job in jobs}
        for fut in as_completed(futures):
            recorded.add(futures[fut].index)
            try:
                done(fut.result())
            except BrokenProcessPool as exc:
                job = futures[fut]
                done({**_base(job), "status": "error", "error": f"worker process died: {exc}", "metrics": {}})
    except BaseException:
        _stop_pool(pool, futures, recorded, done)
        raise
    pool.shutdown(wait=True)


def _stop_pool(pool: Any, futures: dict[Any, Job], recorded: set[int], done: Callable[[dict[str, Any]], None]) -> None:
    """Ctrl-C (or an error) during a local eval: keep every run that finished, stop the rest now.

    The worker list is read before shutdown, which clears it; the workers ignore SIGINT, so
    without terminate() they would finish their runs (minutes) while nobody records them."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for fut, job in futures.items():  # finished, but not yet handed to `done` by as_completed
        if job.index not in recorded and fut.done() and not fut.cancelled() and fut.exception() is None:
            recorded.add(job.index)
            done(fut.result())
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in processes:
        proc.terminate()
    for proc in processes:
        proc.join(timeout=5)


def _run_dask(jobs: list[Job], address: Any, done: Callable[[dict[str, Any]], None]) -> None:
    from distributed import Client, as_completed

    client = address if isinstance(address, Client) else Client(address)
    futures = []
    try:
        futures = [client.submit(execute, job, key=f"opstwin-eval-{job.variant}-{job.name}-{job.seed}-{os.getpid()}"
                                 f"-{job.index}", pure=False) for job in jobs]
        by_key = {f.key: j for f, j in zip(futures, jobs)}
        for fut in as_completed(futures):
            try:
                done(fut.result())
            except Exception as exc:  # noqa: BLE001 - e.g. a worker lost for good
                done({**_base(by_key[fut.key]), "status": "error", "error": f"dask: {type(exc).__name__}: {exc}",
                      "metrics": {}})
            fut.release()
    except BaseException:
        client.cancel(futures)
        raise
    finally:
        if client is not address:
            client.close()


# ---- results files -----------------------------------------------------------------------------

def metric_columns(records: list[dict[str, Any]]) -> list[str]:
    from opstwin.evaluation.report import METRICS

    seen: list[str] = [m for m in METRICS]
    for r in records:
        for k in r.get("metrics", {}):
            if k not in seen:
                seen.append(k)
    return seen


def write_results(out: Path, meta: dict[str, Any], records: list[dict[str, Any]]) -> None:
    """results.json (every run, plan order) and results.csv (one row per run), written atomically."""
    records = sorted(records, key=lambda r: r["index"])
    runs = [{k: v for k, v in r.items() if k not in ("timeline", "index")} for r in records]
    _atomic(out / "results.json", json.dumps({**meta, "runs": runs}, indent=1, sort_keys=False) + "\n")
    cols = metric_columns(records)
    tmp = out / "results.csv.tmp"
    with tmp.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([*RUN_FIELDS, *cols, *PERF_FIELDS, "error"])
        for r in records:
            m = r.get("metrics", {})
            w.writerow([r.get(k) for k in RUN_FIELDS] + [_cell(m.get(c)) for c in cols]
                       + [_cell(r.get(k)) for k in PERF_FIELDS] + [r.get("error") or ""])
    tmp.replace(out / "results.csv")


def _cell(v: Any) -> Any:
    return "" if v is None else v


def _atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


@dataclass
class Outcome:
    plan: Plan
    records: list[dict[str, Any]] = field(default_factory=list)
    interrupted: bool = False

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("status") != "ok"]

    @property
    def complete(self) -> bool:
        return not self.interrupted and len(self.records) == len(self.plan.jobs)


def evaluate(p: Plan, out: Path, *, jobs: int = 1, dask: Any = None, meta: dict[str, Any] | None = None,
             on_done: Callable[[dict[str, Any], int, int], None] | None = None,
             refresh_seconds: float = 5.0) -> Outcome:
    """Execute plan `p`, writing results into `out` as runs finish. Ctrl-C stops it, keeping them."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    outcome = Outcome(p)
    meta = dict(meta or {})
    meta.update({"opstwin_eval": 1, "scenarios": p.scenarios, "files": p.files, "seeds": p.seeds,
                 "variants": {v.name: [str(o) for o in v.overrides] for v in p.variants},
                 "runs_planned": len(p.jobs)})
    stream = (out / "results.jsonl").open("w")
    last = [time.monotonic()]  # clock-ok: only paces file refreshes

    def files_meta() -> dict[str, Any]:
        return {**meta, "runs_finished": len(outcome.records), "complete": outcome.complete,
                "interrupted": outcome.interrupted}

    def done(record: dict[str, Any]) -> None:
        outcome.records.append(record)
        stream.write(json.dumps({k: v for k, v in record.items() if k != "timeline"}) + "\n")
        stream.flush()
        if on_done:
            on_done(record, len(outcome.records), len(p.jobs))
        if time.monotonic() - last[0] >= refresh_seconds:  # clock-ok
            write_results(out, files_meta(), outcome.records)
            last[0] = time.monotonic()  # clock-ok

    try:
        if dask is not None:
            _run_dask(p.jobs, dask, done)
        else:
            _run_local(p.jobs, jobs, done)
    except KeyboardInterrupt:
        outcome.interrupted = True
    finally:
        stream.close()
        write_results(out, files_meta(), outcome.records)
    return outcome


# ---- the whole command -------------------------------------------------------------------------

def _progress(total: int, say: Callable[[str], None]):
    """(on_done callback, closer): a rich bar on a terminal, one line per finished run otherwise."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    console = Console(stderr=True, highlight=False)
    if not console.is_terminal:
        def line(record: dict[str, Any], k: int, n: int) -> None:
            status = "ok" if record.get("status") == "ok" else f"FAILED: {record.get('error')}"
            say(f"eval [{k}/{n}] {record['variant']} {record['scenario']} seed {record['seed']}: {status}")
        return line, lambda: None
    bar = Progress(TextColumn("[bold]eval"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[last]}"),
                   TextColumn("{task.fields[failed]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                   console=console, transient=True)
    bar.start()
    task = bar.add_task("eval", total=total, last="", failed="")
    failures = [0]

    def update(record: dict[str, Any], k: int, n: int) -> None:
        if record.get("status") != "ok":
            failures[0] += 1
            console.print(f"[red]failed[/] {record['variant']} {record['scenario']} seed {record['seed']}: "
                          f"{record.get('error')}")
        bar.update(task, completed=k, last=f"{record['scenario']}-{record['seed']} ({record['variant']})",
                   failed=f"[red]{failures[0]} failed" if failures[0] else "")
    return update, bar.stop


def _preflight(p: Plan, say: Callable[[str], None]) -> None:
    """A variant that reasons with a local model needs its server up and the model there, before any run."""
    specs = [j.scenario.agents.diagnoser.reasoner for j in p.jobs if not j.scenario.agents.baseline]
    if all(s.backend == "rules" for s in specs):
        return
    from opstwin.agents.llm.reasoner import ReasonerUnavailable, preflight

    try:
        for warning in preflight(specs):
            say(f"warning: {warning}")
    except ReasonerUnavailable as exc:
        raise EvalError(str(exc)) from None


def run_eval(files: list[Path], *, seeds: int, out: Path, variants: list[Variant], jobs: int = 1,
             transport: str = "inproc", dask: Any = None, check: Path | None = None,
             tolerances: tuple[str, ...] = (), write_baseline: Path | None = None, command: str = "",
             say: Callable[[str], None] = print, progress: bool = True, record_series: bool = False) -> int:
    """`opstwin eval`: plan, run, write results, figures, report; gate. Returns the exit code.

    Raises EvalError, ScenarioError, OverrideError or GateError for bad input (before any run).
    """
    from opstwin.evaluation import gate, plots, report

    rules = gate.parse_tolerances(tolerances)
    baseline = gate.read_baseline(check) if check else None
    p = plan(files, seeds, variants, out, transport, record_series)
    _preflight(p, say)
    out = Path(out)
    on_done, stop = _progress(len(p.jobs), say) if progress else (None, lambda: None)
    try:
        outcome = evaluate(p, out, jobs=jobs, dask=dask, meta={"command": command}, on_done=on_done)
    finally:
        stop()
    results = json.loads((out / "results.json").read_text())
    figures = plots.all_figures(outcome.records, [v.name for v in p.variants], out) if outcome.records else []
    code = 0
    gate_lines: list[str] = []
    findings: list[Any] = []
    if baseline is not None:
        findings, notes = gate.check(results, baseline, rules)
        gate_lines = [f"against `{check}`: " + (f"{len(findings)} regression(s)" if findings else "passed"),
                      *[f"REGRESSION {f}" for f in findings], *notes]
    report.write_report(out / "report.md", results, figures, gate_lines)
    say(f"wrote {out / 'results.json'}, {out / 'results.csv'}, {out / 'report.md'} and {len(figures)} figures "
        f"({len(outcome.records)} of {len(p.jobs)} runs, in {out / 'runs'})")
    if outcome.interrupted:
        say(f"interrupted: kept the {len(outcome.records)} finished runs of {len(p.jobs)} "
            f"(results.json, results.csv and report.md cover those)")
        code = 130
    if outcome.failed:
        for r in outcome.failed:
            say(f"run failed: {r['variant']} {r['scenario']} seed {r['seed']}: {r.get('error')}")
        code = code or 1
    if write_baseline is not None:
        if outcome.complete and not outcome.failed:
            gate.write_baseline(write_baseline, results)
            say(f"wrote baseline {write_baseline} (variant baseline, seeds {p.seeds[0]}..{p.seeds[-1]})")
        else:
            say(f"not writing baseline {write_baseline}: the eval did not finish every run")
            code = code or 1
    if baseline is not None:
        for line in gate_lines[1:]:
            say(("regression: " + line[len("REGRESSION "):]) if line.startswith("REGRESSION ") else f"gate: {line}")
        if findings:
            worst = sorted({f.metric for f in findings})
            say(f"gate FAILED against {check}: {len(findings)} regression(s) in {', '.join(worst)}")
            code = code or 1
        else:
            say(f"gate passed against {check}")
    return code
