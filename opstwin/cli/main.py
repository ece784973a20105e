"""The `opstwin` command. Thin: each command parses, calls one function, prints.

Exit codes: 0 success, 1 a check failed (e.g. a regression gate), 2 bad input (a scenario
that does not validate, a missing file, an unknown option), 130 interrupted (Ctrl-C). Bad input
never prints a traceback: one line per problem, naming the file and the field.

Imports are lazy on purpose: `--version`, `validate`, `schema`, `faults` and `list` must answer in
well under a second, so nothing here pulls scikit-learn, matplotlib, dask, SPADE or torch until
a command that needs them runs (tests/test_cold_start.py checks it).
"""

from __future__ import annotations

import atexit
import gc
import json
import sys
from pathlib import Path
from typing import Callable

import click

from opstwin.cli.common import check_out, fail, probe_writable  # noqa: F401 - re-exported
from opstwin.scenarios.errors import ScenarioError
from opstwin.scenarios.library import NotFound, resolve


def say(message: str) -> None:
    """A status line from a transport, server or bench on stderr (rich markup, as they write it)."""
    from opstwin.cli.progress import say as print_line

    print_line(message, markup=True)


def scenario_files(paths: tuple[str, ...], missing: Callable[[NotFound], None] | None = None) -> list[Path]:
    """Files as given, folders expanded to their *.yaml files (sorted), library names resolved.

    An argument that is none of these exits (one line), or goes to `missing` if given."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted([*p.glob("*.yaml"), *p.glob("*/*.yaml")])
            if not found:
                fail(f"no scenario files (*.yaml) in {p}")
            files += found
            continue
        try:
            files.append(resolve(p))
        except NotFound as exc:
            if missing is None:
                fail(str(exc))
            missing(exc)
    return files


def resolve_or_exit(arg: str | Path) -> Path:
    """A path, or a library scenario's file; bad input is one line and exit 2."""
    try:
        return resolve(arg)
    except NotFound as exc:
        fail(str(exc))


def load_or_exit(path: Path, warn: bool = False):
    """The validated scenario (its warnings on stderr if `warn`), or one line per problem and exit 2."""
    from opstwin.scenarios.loader import load_checked

    try:
        scenario, warnings = load_checked(resolve_or_exit(path))
    except ScenarioError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        sys.exit(2)
    for warning in warnings if warn else ():
        click.echo(str(warning), err=True)
    return scenario


def xmpp_address(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """--xmpp HOST[:PORT] checked up front (an IPv6 address in brackets: [::1]:5222); one line if bad."""
    if value is None:
        return None
    from opstwin.agents.address import DEFAULT_PORT, parse_address

    try:
        host, port = parse_address(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if ":" in host:  # IPv6: the transport reads a bare address with the default port
        return host if port == DEFAULT_PORT else f"[{host}]:{port}"
    return f"{host}:{port}"


RUN_FILES = frozenset({"incidents.jsonl", "summary.json", "health.csv", "series.npz", "logs.csv.gz"})  # what one run writes


class Commands(click.Group):
    """The command group: Ctrl-C anywhere exits 130, and a file the system refuses (a full disk, a
    read-only folder) is one line and exit 2, never a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            fail("interrupted", code=130)
        except OSError as exc:
            if exc.errno is None:
                raise
            fail(f"{exc.filename + ': ' if exc.filename else ''}{exc.strerror or exc}")


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="opstwin")
def main() -> None:
    """opstwin: a digital-twin testbed for autonomous incident response."""
    # At exit the interpreter's last garbage collection walks every object still alive: after a
    # 100,000-service run that is millions of them and took about 3 s. The command's work is done by
    # then, so they are frozen (out of the collector's sight) and freed by reference counting alone.
    atexit.register(gc.freeze)


@main.command()
@click.argument("files", nargs=-1, required=True)
def validate(files: tuple[str, ...]) -> None:
    """Check scenario FILES (paths, folders or library names); exit 2 with one line per problem."""
    from opstwin.scenarios.loader import load_checked

    bad = 0

    def missing(exc: NotFound) -> None:
        nonlocal bad
        bad += 1
        click.echo(str(exc), err=True)

    for f in scenario_files(files, missing):
        try:
            _, warnings = load_checked(f)
            click.echo(f"{f}: ok")
            for warning in warnings:
                click.echo(str(warning), err=True)
        except ScenarioError as exc:
            bad += 1
            for problem in exc.problems:
                click.echo(str(problem), err=True)
    if bad:
        sys.exit(2)


@main.command()
def schema() -> None:
    """Print the JSON Schema of a scenario file (for editors)."""
    from opstwin.scenarios.schema import json_schema

    click.echo(json.dumps(json_schema(), indent=2))


@main.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), default=None, help="Seed (default: the scenario's).")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Output folder (default: runs/<scenario>-<seed>).")
@click.option("--force", is_flag=True, help="Write into --out even if it is not empty.")
@click.option("--no-agents", is_flag=True, help="Run the twin and its faults without the agent team.")
@click.option("--quiet", "-q", is_flag=True, help="No progress display.")
@click.option("--transport", type=click.Choice(["spade", "inproc"]), default="spade", show_default=True,
              help="spade: SPADE agents over XMPP (the embedded server unless --xmpp); inproc: direct calls (fast).")
@click.option("--processes", type=click.IntRange(1, 64), default=1, show_default=True,
              help="OS processes for the agents (spade); the twin's process counts as one.")
@click.option("--xmpp", default=None, metavar="HOST[:PORT]", callback=xmpp_address,
              help="Use this XMPP server instead of the embedded one ([IPv6]:PORT for an IPv6 address).")
@click.option("--round-timeout", type=click.FloatRange(min=0, min_open=True), default=30.0, show_default=True,
              help="Wall seconds an agent may take to finish a round before it is declared lost (spade).")
@click.option("--remote", default=None, metavar="ROLES",
              help="Agents (names or roles, comma-separated) that `opstwin agents` hosts elsewhere (spade).")
@click.option("--join", "join_file", type=click.Path(path_type=Path), default=None,
              help="Where to write the join file for `opstwin agents` (mode 0600; default: a temp file, shown).")
@click.option("--human-wait", type=click.FloatRange(min=0), default=0.0, show_default=True, metavar="SECONDS",
              help="Attended run (spade): wait this long for the scenario's human to approve/deny over XMPP; "
                   "0 keeps the YAML default decision (reproducible).")
@click.option("--logs-out", type=click.Path(path_type=Path, dir_okay=False), default=None, metavar="FILE",
              help="Also write every log line the twin writes to FILE (labels from ground truth) and the "
                   "template truth to FILE_structured.csv, for `opstwin logs`.")
@click.option("--logs-format", default="opstwin", show_default=True, metavar="NAME",
              help="The format of --logs-out (`opstwin logs formats`), e.g. BGL; labels need a <Label> field.")
@click.option("--record-series", is_flag=True,
              help="Also write the telemetry series (series.npz) and log lines (logs.csv.gz), for `opstwin rca export`.")
def run(file: Path, seed: int | None, out: Path | None, force: bool, no_agents: bool, quiet: bool, transport: str,
        processes: int, xmpp: str | None, round_timeout: float, remote: str | None, join_file: Path | None,
        human_wait: float, logs_out: Path | None, logs_format: str, record_series: bool) -> None:
    """Run one scenario (a FILE or a library name, see `opstwin list`); writes incidents.jsonl and summary.json."""
    scenario = load_or_exit(file, warn=not quiet and not no_agents)
    seed = scenario.seed if seed is None else seed
    out = out or Path("runs") / f"{scenario.name}-{seed}"
    check_out(out, force, RUN_FILES)
    export = logs_export(logs_out, logs_format, force) if logs_out is not None else None
    from opstwin.cli.progress import live_progress, print_summary, starting_line
    from opstwin.engine.runner import run as run_scenario

    if not no_agents and not scenario.agents.baseline:
        llm_preflight(scenario.agents.diagnoser.reasoner, quiet)
    if not quiet:
        say(starting_line(scenario, seed, agents=not no_agents, transport=transport, processes=processes, xmpp=xmpp))
    with live_progress(scenario, enabled=not quiet, seed=seed) as progress, export or _nothing():
        try:
            summary = run_scenario(scenario, seed=seed, out=out, agents=not no_agents, progress=progress, on_frame=export,
                                   transport=transport, processes=processes, xmpp=xmpp,
                                   transport_options={"round_timeout": round_timeout, "join_file": join_file,
                                                      "remote": remote.split(",") if remote else None,
                                                      "say": say, "human_wait": human_wait},
                                   record_series=record_series)
        except KeyboardInterrupt:  # the runner has ended the log with run_aborted; keep it
            fail(f"interrupted; the log so far is in {out / 'incidents.jsonl'}", code=130)
        except Exception as exc:  # an XMPP server down or refusing login: one line, exit 2
            if type(exc).__name__ != "XmppError":
                raise
            if out.is_dir() and not any(out.iterdir()):
                out.rmdir()  # no half-written results
            fail(str(exc))
    print_summary(summary, out)
    if export is not None:
        say(f"logs: {export.lines} lines ({export.anomalous} labelled anomalous) in {export.path}, "
            f"templates in {export.truth_path}")


def llm_preflight(reasoner, quiet: bool) -> None:
    """An LLM reasoner's server must answer and have the model: else one line naming host and model, exit 2
    (with `fallback: rules`, a warning and the run goes on with rules)."""
    if reasoner.backend == "rules":
        return
    from opstwin.agents.llm.reasoner import ReasonerUnavailable, preflight

    try:
        warnings = preflight([reasoner])
    except ReasonerUnavailable as exc:
        fail(str(exc))
    for w in warnings:
        click.echo(f"opstwin: warning: {w}", err=True)


def _nothing():
    import contextlib

    return contextlib.nullcontext()


def logs_export(path: Path, fmt: str, force: bool):
    """The --logs-out frame hook, its file opened; one line and exit 2 for a bad format or an existing file."""
    from opstwin.logs.export import LogExport
    from opstwin.logs.formats import get_format

    try:
        log_format = get_format(fmt)
    except ValueError as exc:
        fail(f"--logs-format: {exc}")
    if path.exists() and not force:
        fail(f"--logs-out {path}: file exists; pick another or add --force to write over it")
    path.parent.mkdir(parents=True, exist_ok=True)
    return LogExport(path, log_format)


@main.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the library as JSON (for tools).")
def list_cmd(as_json: bool) -> None:
    """List the scenario library: name, services, duration, faults, description (run one by name)."""
    from opstwin.scenarios.library import entries

    library = entries()
    if as_json:
        click.echo(json.dumps([e.as_dict() for e in library], indent=2))
        return
    from rich.table import Table

    table = Table(title="scenario library (opstwin run NAME)")
    for col in ("name", "services", "duration", "faults", "description"):
        table.add_column(col, no_wrap=col != "description", justify="right" if col == "services" else "left")
    for e in library:
        table.add_row(e.name, "?" if e.services is None else str(e.services), e.duration, e.faults, e.description)
    stdout_table(table)


def stdout_table(table) -> None:
    """Print a rich table on stdout; piped, do not squeeze it into 80 columns."""
    from rich.console import Console

    out = Console(highlight=False)
    if not out.is_terminal:
        out.width = 160
    out.print(table)


@main.command("faults")
@click.option("--json", "as_json", is_flag=True, help="Print the catalog as JSON (for tools).")
def faults_cmd(as_json: bool) -> None:
    """List the fault catalog: each type, what it hits, its symptoms and its fixes."""
    from opstwin.faults.catalog import CATALOG, describe

    if as_json:
        click.echo(json.dumps([describe(t) for t in CATALOG.values()], indent=2))
        return
    from rich.table import Table

    table = Table(title="fault catalog", show_lines=False)
    table.add_column("type", no_wrap=True)
    for col in ("category", "target", "parameters", "symptoms", "fixes"):
        table.add_column(col)
    for t in CATALOG.values():
        params = ", ".join(k for k in t.parameters_schema()["properties"])
        table.add_row(t.name, t.category, t.target, params, ", ".join(t.symptoms), ", ".join(t.fixes))
    stdout_table(table)


@main.command("eval")
@click.argument("paths", nargs=-1, required=True)
@click.option("--seeds", type=click.IntRange(1), default=3, show_default=True, help="Run seeds 1..N.")
@click.option("--jobs", "-j", type=click.IntRange(1), default=1, show_default=True, help="Local worker processes.")
@click.option("--transport", default="inproc", show_default=True, metavar="inproc|spade",
              help="Agent transport for every run: inproc (direct calls) or spade (SPADE agents over XMPP).")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Output folder.")
@click.option("--force", is_flag=True, help="Write into --out even if it is not empty.")
@click.option("--variant", "variants", multiple=True, metavar="NAME=KEY.PATH=VALUE",
              help="A team configuration to compare with `baseline` (repeatable; same NAME accumulates), "
                   "e.g. thr=agents.monitor.detector=threshold.")
@click.option("--baselines", is_flag=True,
              help="Also run the team without log evidence (variant `no-logs`) and the standing baselines "
                   "`shotgun` and `random` (agents.baseline), so the report shows the team beside them; "
                   "--check gates the team only.")
@click.option("--check", type=click.Path(path_type=Path), default=None, metavar="BASELINE.json",
              help="Regression gate: exit 1 naming each metric worse than this baseline beyond tolerance.")
@click.option("--tolerance", "tolerances", multiple=True, metavar="[METRIC=]VALUE",
              help="Gate tolerance for one metric, or VALUE for all (repeatable; see opstwin/evaluation/gate.py).")
@click.option("--write-baseline", type=click.Path(path_type=Path), default=None, metavar="BASELINE.json",
              help="Write the baseline variant's means to this file (for --check).")
@click.option("--dask", default=None, metavar="ADDRESS",
              help='Run on this Dask scheduler instead of local processes (needs pip install "opstwin[dask]").')
@click.option("--record-series", is_flag=True,
              help="Every run also writes its telemetry series and log lines (for `opstwin rca export`).")
@click.option("--quiet", "-q", is_flag=True, help="No progress display.")
def eval_cmd(paths: tuple[str, ...], seeds: int, jobs: int, transport: str, out: Path, force: bool,
             variants: tuple[str, ...], baselines: bool, check: Path | None, tolerances: tuple[str, ...], write_baseline: Path | None,
             dask: str | None, record_series: bool, quiet: bool) -> None:
    """Run scenario PATHS (files, folders or library names) for seeds 1..N; write results, report.md and plots to --out."""
    import shlex

    from opstwin.evaluation.evaluate import EvalError, run_eval
    from opstwin.evaluation.gate import GateError
    from opstwin.scenarios.overrides import OverrideError, parse_variants

    command = shlex.join(["opstwin", "eval", *paths, "--seeds", str(seeds), *sum((["--variant", v] for v in variants),
                         []), *(["--baselines"] if baselines else []), *(["--record-series"] if record_series else []),
                          *([] if transport == "inproc" else ["--transport", transport]), "--out", str(out)])
    if baselines:
        variants = (*variants, *BASELINE_VARIANTS)
    files = scenario_files(paths)
    check_out(out, force)
    client = dask_client(dask) if dask else None  # a dead scheduler is bad input, found before --out exists
    try:
        parsed = parse_variants(variants)
        code = run_eval(files, seeds=seeds, out=out, variants=parsed, jobs=jobs, transport=transport,
                        dask=client, check=check, tolerances=tolerances, write_baseline=write_baseline,
                        command=command, say=lambda s: click.echo(s, err=True), progress=not quiet,
                        record_series=record_series)
    except ScenarioError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        sys.exit(2)
    except (EvalError, OverrideError, GateError) as exc:
        fail(str(exc))
    finally:
        if client is not None:
            client.close()
    sys.exit(code)


# what --baselines adds: the team without log evidence (an ablation), and the standing baselines
# (agents/baselines.py); names match opstwin.evaluation.gate.REFERENCES, which the gate skips
BASELINE_VARIANTS = ("no-logs=agents.monitor.logs=false", "shotgun=agents.baseline=shotgun",
                     "random=agents.baseline=random")
DASK_CONNECT_TIMEOUT = 5.0  # seconds; a scheduler that does not answer by then is taken as down


def dask_client(address: str):
    """A connected `distributed.Client`, or one line and exit 2 (dask not installed, scheduler down)."""
    import logging

    try:
        from distributed import Client
    except ImportError:
        fail('--dask needs Dask, an optional extra: pip install "opstwin[dask]"')
    quiet = logging.getLogger("distributed")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # its connection retries would print tracebacks of their own
    try:
        return Client(address, timeout=DASK_CONNECT_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - OSError, TimeoutError, ValueError for a bad address...
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        fail(f"--dask {address}: cannot reach the Dask scheduler ({reason})")
    finally:
        quiet.setLevel(level)


@main.group()
def bench() -> None:
    """Benchmarks that print figures; the last line is one JSON object."""


@bench.command("twin")
@click.option("--services", type=click.IntRange(2, 200_000), default=10_000, show_default=True)
@click.option("--hours", type=click.FloatRange(min=0, min_open=True), default=24.0, show_default=True)
@click.option("--tick", type=click.FloatRange(0.1, 3600), default=10.0, show_default=True, help="Seconds per tick.")
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), default=1, show_default=True)
@click.option("--naive", is_flag=True, help="Also time one SimPy process per service doing the same work; adds `ratio` and `cpu_ratio`.")
@click.option("--agents", is_flag=True, help="Run the in-process team too, with seeded random faults.")
@click.option("--faults-per-hour", type=click.FloatRange(min=0), default=0.5, show_default=True,
              help="With --agents: rate of random faults (every type).")
def bench_twin_cmd(services: int, hours: float, tick: float, seed: int, naive: bool, agents: bool,
                   faults_per_hour: float) -> None:
    """Time the twin alone (or with the team: --agents) on a synthetic topology of N services."""
    from opstwin.bench.twin import bench_agents, bench_twin

    if agents and naive:
        fail("--agents and --naive do not combine")
    if agents:
        result = bench_agents(services, hours, tick=tick, seed=seed, faults_per_hour=faults_per_hour, say=say)
    else:
        result = bench_twin(services, hours, tick=tick, seed=seed, naive=naive, say=say)
    click.echo(json.dumps(result))


@bench.command("xmpp")
@click.argument("file", type=click.Path(path_type=Path), required=False)
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), default=None, help="Seed (default: the scenario's).")
@click.option("--processes", type=click.IntRange(2, 64), default=3, show_default=True)
@click.option("--xmpp", default=None, metavar="HOST[:PORT]", callback=xmpp_address,
              help="An external XMPP server instead of the embedded one.")
def bench_xmpp_cmd(file: Path | None, seed: int | None, processes: int, xmpp: str | None) -> None:
    """Time a scenario (default: the library's storm) inproc and as SPADE agents over XMPP."""
    from opstwin.bench.xmpp import bench_xmpp, default_scenario

    scenario = load_or_exit(file or default_scenario())
    try:
        result = bench_xmpp(scenario, seed=seed, processes=processes, xmpp=xmpp, say=say)
    except Exception as exc:
        if type(exc).__name__ != "XmppError":
            raise
        fail(str(exc))
    click.echo(json.dumps(result))
    if not result["identical"]:
        sys.exit(1)


@bench.command("bidding")
@click.option("--specialists", default="4,16,64", show_default=True, metavar="N[,N...]", help="Team sizes.")
@click.option("--seeds", type=click.IntRange(1, 100), default=2, show_default=True, help="Seeds 1..N per size.")
@click.option("--policies", default="heuristic,central", show_default=True, metavar="P[,P...]",
              help="Bidding policies: random, heuristic, record, central or a policy .zip.")
@click.option("--faults-per-hour", type=click.FloatRange(min=0, min_open=True), default=8.0, show_default=True,
              help="Random faults an hour at 16 specialists (scaled with the team).")
@click.option("--history", type=click.IntRange(0, 1000), default=0, show_default=True,
              help="Past results every specialist's record starts with (the scenario field `history`).")
def bench_bidding_cmd(specialists: str, seeds: int, policies: str, faults_per_hour: float, history: int) -> None:
    """MTTR and auction overhead as the team grows (4 -> 16 -> 64 specialists); last line is JSON."""
    from opstwin.agents.policies import PolicyError, check_policy
    from opstwin.bench.bidding import bench_bidding

    try:
        sizes = [int(x) for x in specialists.split(",") if x.strip()]
    except ValueError:
        fail(f"--specialists {specialists}: expected sizes such as 4,16,64")
    if not sizes or any(not 1 <= n <= 256 for n in sizes):
        fail(f"--specialists {specialists}: sizes must be 1..256")
    names = [p.strip() for p in policies.split(",") if p.strip()]
    for p in names:
        try:
            check_policy(p)
        except PolicyError as exc:
            fail(f"--policies: {exc}")
    result = bench_bidding(sizes, list(range(1, seeds + 1)), names, rate=faults_per_hour, history=history, say=say)
    click.echo(json.dumps(result))


@bench.command("fuzz")
@click.option("--mutants", type=click.IntRange(1, 1_000_000), default=1200, show_default=True,
              help="Mutated scenario files to validate.")
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), default=1, show_default=True, help="Seed of the mutator.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=20.0, show_default=True,
              help="Seconds a file may take to validate before it counts as a hang.")
def bench_fuzz_cmd(mutants: int, seed: int, timeout: float) -> None:
    """Validate seeded mutants of the library's scenarios: clean errors, tracebacks, hangs (exit 1 if any)."""
    from opstwin.bench.fuzz import run_fuzz

    result = run_fuzz(mutants, seed=seed, timeout=timeout, say=say)
    say(f"fuzz: {result['files']} files, {result['clean_errors']} clean errors, {result['valid']} valid, "
        f"{result['tracebacks']} tracebacks, {result['hangs']} hangs in {result['seconds']} s "
        f"(slowest file {result['slowest_seconds']} s)")
    click.echo(json.dumps(result))
    if result["tracebacks"] or result["hangs"]:
        sys.exit(1)


@main.group()
def rca() -> None:
    """Root-cause analysis interop: export runs as RCAEval cases, score RCA methods beside the team."""


def _duration(ctx: click.Context, param: click.Parameter, value: str) -> float:
    from opstwin.twin.units import parse_duration

    try:
        seconds = parse_duration(value)
    except (ValueError, TypeError) as exc:
        raise click.BadParameter(str(exc)) from None
    if seconds <= 0:
        raise click.BadParameter(f"{value!r}: must be a positive duration, e.g. 10m")
    return seconds


@rca.command("export")
@click.argument("source", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Folder for the cases.")
@click.option("--force", is_flag=True, help="Write into --out even if it is not empty.")
@click.option("--before", default="10m", show_default=True, callback=_duration, metavar="DURATION",
              help="Normal window before each injection.")
@click.option("--after", default="10m", show_default=True, callback=_duration, metavar="DURATION",
              help="Anomalous window from each injection on.")
@click.option("--variant", default="baseline", show_default=True, help="Of an eval folder, the variant to export.")
def rca_export_cmd(source: Path, out: Path, force: bool, before: float, after: float, variant: str) -> None:
    """Export the faults of a run folder (or of an eval folder's runs) made with --record-series as
    RCAEval cases: one folder per fault with metrics.json, inject_time.txt, logs.csv and case.json."""
    from opstwin.rca.export import ExportError, export

    check_out(out, force)
    try:
        index = export(source, out, before=before, after=after, variant=variant, say=say)
    except ExportError as exc:
        fail(str(exc))
    say(f"wrote {len(index['cases'])} cases to {out}" + (f" ({len(index['skipped'])} faults skipped: "
                                                          "too close to the run's start or end)" if index["skipped"] else ""))


@rca.command("score")
@click.argument("cases", type=click.Path(path_type=Path))
@click.option("--methods", default="baro,nsigma,circa,team", show_default=True,
              help="Comma-separated: baro (fse-baro), nsigma, circa, rcaeval-baro (RCAEval), team (opstwin's diagnosis).")
@click.option("--jobs", "-j", type=click.IntRange(1), default=1, show_default=True, help="Worker processes.")
@click.option("--quiet", "-q", is_flag=True, help="Do not print the report.")
def rca_score_cmd(cases: Path, methods: str, jobs: int, quiet: bool) -> None:
    """Run RCA methods on every exported case in CASES; AC@1, AC@3, Avg@5 with bootstrap CIs per fault type
    and overall, written to CASES/rca_report.md and rca_scores.csv (each method's ranks: rca_ranks.jsonl)."""
    from opstwin.rca.export import ExportError
    from opstwin.rca.methods import EXTRA
    from opstwin.rca.score import parse_methods, score

    try:
        names = parse_methods(methods)
        step = [0]

        def progress(done: int, total: int) -> None:  # a line every tenth of the work
            if quiet or done * 10 // total == step[0]:
                return
            step[0] = done * 10 // total
            click.echo(f"rca score: {done}/{total} (case, method) pairs", err=True)

        result = score(cases, names, jobs=jobs, progress=progress)
    except ExportError as exc:
        fail(str(exc))
    except ImportError as exc:
        fail(f"{EXTRA} ({exc})")
    if not quiet:
        click.echo(result["report"])
    say(f"scored {result['cases']} cases with {', '.join(names)}: {cases / 'rca_report.md'}, {cases / 'rca_scores.csv'}")


@main.command("xmpp")
@click.option("--port", type=click.IntRange(0, 65535), default=5222, show_default=True)
@click.option("--public", is_flag=True, help="Also listen on this machine's network address (default: 127.0.0.1 only).")
@click.option("--verbose", "-v", is_flag=True, help="Log the server's activity.")
def xmpp_cmd(port: int, public: bool, verbose: bool) -> None:
    """Run the embedded XMPP server (domain localhost) until Ctrl-C; runs join it with --xmpp and the
    registration key it prints (OPSTWIN_XMPP_KEY)."""
    from opstwin.agents.xmpp.server import run_foreground

    run_foreground(port, public=public, verbose=verbose, say=say)
    fail("interrupted", code=130)  # it serves until Ctrl-C, which it takes as its way out


@main.command("viz")
@click.argument("file", type=click.Path(path_type=Path), default="storm", required=False)
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), default=None, help="Seed (default: the scenario's).")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="Port on 127.0.0.1 (0: any free port).")
def viz_cmd(file: Path, seed: int | None, port: int) -> None:
    """Watch a scenario (a FILE or a library name; default storm) run in the browser, until Ctrl-C."""
    from opstwin.viz.serve import ServeError, serve

    load_or_exit(file)
    try:
        serve(resolve_or_exit(file), seed, port, say=click.echo)
    except ServeError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail("interrupted", code=130)


@main.command("agents")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--join", "join_file", type=click.Path(path_type=Path, exists=True), required=True,
              help="The run's join file (written by `opstwin run --remote ROLES --join PATH`).")
@click.option("--roles", required=True, help="Agent names or roles to host here, comma-separated (e.g. specialist,guard).")
@click.option("--xmpp", default=None, metavar="HOST[:PORT]", callback=xmpp_address,
              help="Reach the XMPP server here (default: the join file's).")
def agents_cmd(file: Path, join_file: Path, roles: str, xmpp: str | None) -> None:
    """Host some of a running scenario's agents in this process (on this machine); exits when the run ends."""
    from opstwin.agents.xmpp.worker import run_agents

    load_or_exit(file)
    try:
        run_agents(join_file, [r.strip() for r in roles.split(",") if r.strip()], xmpp, say=say)
    except Exception as exc:
        if type(exc).__name__ not in ("XmppError", "ConnectionRefusedError", "TimeoutError", "SystemExit"):
            raise
        fail(str(exc))


def _add_logs() -> None:
    from opstwin.cli.logs import logs
    from opstwin.cli.train import train_cmd

    main.add_command(logs)
    main.add_command(train_cmd)


_add_logs()

if __name__ == "__main__":
    main()
