"""``opstwin logs parse|detect``: replay a loghub-format file through the monitor's log reading.

Thin, like the rest of the CLI: options are checked here (one line and exit 2 when bad), the work
is in :mod:`opstwin.logs`. Both commands print a markdown table on stdout and their speed (lines/s)
on stderr; ``--out DIR`` also writes report.md, results.csv and results.json.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from opstwin.cli.common import check_out, fail

BIG = 5_000_000  # bytes: files at least this long show progress


def log_format(ctx: click.Context, param: click.Parameter, value: str):
    from opstwin.logs.formats import get_format

    try:
        return get_format(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def progress_printer(path: Path, quiet: bool):
    """A reader progress callback printing '<file>: 40% (N lines, R lines/s)' on stderr, or None."""
    if quiet or path.stat().st_size < BIG:
        return None
    t0 = time.perf_counter()  # clock-ok: display only

    def show(done: int, total: int, lines: int) -> None:
        rate = lines / max(time.perf_counter() - t0, 1e-9)  # clock-ok
        click.echo(f"{path}: {100 * done // total}% ({lines:,} lines, {rate:,.0f} lines/s)", err=True)

    return show


WHOLE_SESSION = 1e18  # lines: --window session, one window per session


def window_size(value: str) -> tuple[float, bool]:
    """--window: a number of lines, a duration with a unit (time windows) or `session`; one line if none."""
    if value == "session":
        return WHOLE_SESSION, False
    if value.isdigit() and int(value) > 0:
        return float(int(value)), False
    from opstwin.twin.units import parse_duration

    try:
        seconds = parse_duration(value)
    except (ValueError, TypeError) as exc:
        fail(f"--window {value}: neither a number of lines, a duration nor `session` ({exc})")
    if seconds <= 0:
        fail(f"--window {value}: must be more than zero")
    return seconds, True


def sessions(group: str | None, session_re: str | None, labels: Path | None, window: float):
    """Check how sessions are asked for; the compiled --session regex (or None). One line if at odds."""
    import re

    if group and session_re:
        fail("--group and --session both say what a session is: give one")
    if (labels is not None or window == WHOLE_SESSION) and not (group or session_re):
        fail(f"{'--labels' if labels is not None else '--window session'} needs sessions: --group FIELD or --session REGEX")
    if session_re is None:
        return None
    try:
        return re.compile(session_re)
    except re.error as exc:
        fail(f"--session {session_re}: not a regular expression ({exc})")


FILE = click.Path(path_type=Path, exists=True, dir_okay=False, readable=True)
FORMAT = click.option("--format", "fmt", required=True, callback=log_format, metavar="NAME",
                      help="The file's header format (`opstwin logs formats`), e.g. BGL, HDFS, opstwin.")
OUT = click.option("--out", type=click.Path(path_type=Path), default=None,
                   help="Also write report.md, results.csv and results.json here.")


@click.group("logs")
def logs() -> None:
    """Replay loghub-format log files: mine templates with drain3, detect anomalies, score."""


@logs.command("formats")
def formats_cmd() -> None:
    """List the header formats (loghub's strings); a <Label> field carries per-line labels."""
    from opstwin.logs.formats import FORMATS

    for name, spec in FORMATS.items():
        click.echo(f"{name:12} {spec}")


@logs.command("parse")
@click.argument("file", type=FILE)
@FORMAT
@click.option("--truth", type=FILE, default=None, metavar="STRUCTURED.csv",
              help="Template ground truth (loghub's *_structured.csv); default FILE_structured.csv if it exists.")
@OUT
@click.option("--force", is_flag=True, help="Write into --out even if it is not empty.")
@click.option("--quiet", "-q", is_flag=True, help="No progress or notes on stderr.")
def parse_cmd(file: Path, fmt, truth: Path | None, out: Path | None, force: bool, quiet: bool) -> None:
    """Mine FILE's templates with the monitor's drain3 set-up; with ground truth, grouping and parsing accuracy."""
    from opstwin.logs.parsing import mine, read_truth, score_parsing
    from opstwin.logs.reader import LogInputError
    from opstwin.logs.report import parse_markdown, write, write_templates

    if out is not None:
        check_out(out, force)
    default = file.with_name(file.name + "_structured.csv")
    truth = truth or (default if default.is_file() else None)
    t0 = time.perf_counter()  # clock-ok: reported speed only
    try:
        mined = mine(file, fmt, progress=progress_printer(file, quiet))
        score = score_parsing(mined, read_truth(truth)) if truth is not None else None
    except LogInputError as exc:
        fail(str(exc))
    if mined.stats.malformed and not quiet:
        click.echo(f"{file}: {mined.stats.note()}", err=True)
    seconds = time.perf_counter() - t0  # clock-ok
    md = parse_markdown(mined, score, f"{file.name} ({fmt.name}){f', truth {truth.name}' if truth else ''}")
    click.echo(md, nl=False)
    click.echo(f"parsed {mined.stats.lines:,} lines in {seconds:.2f} s ({mined.stats.lines / max(seconds, 1e-9):,.0f} "
               f"lines/s), {len(mined.templates)} templates", err=True)
    if out is not None:
        row = {"file": str(file), "format": fmt.name, "lines": mined.stats.lines, "parsed": mined.n,
               "malformed": mined.stats.malformed, "templates": len(mined.templates), "seconds": round(seconds, 3),
               "scored": score.lines if score else None, "true_events": score.events if score else None,
               "grouping_accuracy": round(score.grouping_accuracy, 4) if score else None,
               "parsing_accuracy": round(score.parsing_accuracy, 4) if score else None}
        write(out, md, [row], {"truth": str(truth) if truth else None})
        write_templates(out / "templates.csv", mined)


@logs.command("detect")
@click.argument("file", type=FILE)
@FORMAT
@click.option("--detector", "detectors", multiple=True, metavar="NAME",
              help="isolation_forest, lof, ocsvm, pca, deeplog, or all (repeatable; default all).")
@click.option("--window", "window_arg", default="20", show_default=True, metavar="LINES|DURATION|session",
              help="Lines per window, a duration (30s, 5m, 1h) for time windows by the Timestamp field, "
                   "or `session`: one window per session (with --group or --session).")
@click.option("--group", default=None, metavar="FIELD",
              help="Sessions: window each value of this header field apart (e.g. Node: one stream per service).")
@click.option("--session", "session_re", default=None, metavar="REGEX",
              help="Sessions by the first match of REGEX in each line's Content (HDFS: 'blk_-?\\d+').")
@click.option("--labels", "labels_file", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None,
              metavar="FILE.csv", help="Session labels (loghub's HDFS anomaly_label.csv: BlockId,Label); "
                                       "lines take their session's label.")
@click.option("--train", "train_file", type=FILE, default=None,
              help="Train on this file (same format) and test on all of FILE; else split FILE.")
@click.option("--train-fraction", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.5,
              show_default=True, help="Without --train: the first part of FILE trained on.")
@click.option("--train-on", type=click.Choice(["normal", "all"]), default="normal", show_default=True,
              help="normal: with labels, train only on normal windows/sequences; all: unsupervised.")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=1, show_default=True)
@OUT
@click.option("--force", is_flag=True, help="Write into --out even if it is not empty.")
@click.option("--quiet", "-q", is_flag=True, help="No progress or notes on stderr.")
def detect_cmd(file: Path, fmt, detectors: tuple[str, ...], window_arg: str, group: str | None, session_re: str | None,
               labels_file: Path | None, train_file: Path | None,
               train_fraction: float, train_on: str, seed: int, out: Path | None, force: bool, quiet: bool) -> None:
    """Detect anomalous windows and lines of FILE; with labels, precision, recall and F1 per window and per line."""
    from opstwin.logs.detect import DETECTORS, detect_files
    from opstwin.logs.reader import LogInputError
    from opstwin.logs.report import detect_markdown, write

    names: list[str] = []
    for d in detectors or ("all",):
        for name in DETECTORS if d == "all" else (d,):
            if name not in DETECTORS:
                fail(f"--detector {d}: unknown; choose from {', '.join(DETECTORS)} or all")
            if name not in names:
                names.append(name)
    if "deeplog" in names:
        try:
            import torch  # noqa: F401
        except ImportError:
            fail('--detector deeplog needs torch: pip install "opstwin[logs]"')
    window, timed = window_size(window_arg)
    session = sessions(group, session_re, labels_file, window)
    if out is not None:
        check_out(out, force)
    t0 = time.perf_counter()  # clock-ok: reported speed only
    try:
        results, test, train = detect_files(
            file, fmt, detectors=tuple(names), window=window, timed=timed, group=group, session=session,
            labels=labels_file, train=train_file, train_fraction=train_fraction, train_on=train_on, seed=seed,
            progress=lambda path: progress_printer(path, quiet), note=None if quiet else lambda s: click.echo(s, err=True))
    except LogInputError as exc:
        fail(str(exc))
    lines = test.stats.lines + (train.stats.lines if train else 0)
    seconds = time.perf_counter() - t0  # clock-ok
    how = f"trained on {train_file.name}" if train_file else f"first {train_fraction:g} trained on"
    per = f" per {group}" if group else f" per session {session_re}" if session_re else ""
    heading = f"{file.name} ({fmt.name}, window {window_arg}{per}, {how}, train on {train_on})"
    if test.anomalous is None and not quiet:
        click.echo(f"{file}: the {fmt.name} format carries no labels: counts only, no precision or recall", err=True)
    md = detect_markdown(results, heading)
    click.echo(md, nl=False)
    click.echo(f"scored {lines:,} lines in {seconds:.2f} s: {lines / max(seconds, 1e-9):,.0f} lines/s", err=True)
    if out is not None:
        write(out, md, [r.row() for r in results],
              {"file": str(file), "format": fmt.name, "window": window_arg, "group": group, "session": session_re,
               "labels": str(labels_file) if labels_file else None, "train": str(train_file) if train_file else None,
               "train_fraction": None if train_file else train_fraction, "train_on": train_on, "seed": seed,
               "lines": lines, "seconds": round(seconds, 3)})
