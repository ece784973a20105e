"""``opstwin rca score``: run RCA methods on exported cases; AC@1, AC@3, Avg@5 with bootstrap CIs.

Definitions (RCAEval's): a method ranks candidates, best first; AC@k is the share of cases whose
root cause is among the first k; Avg@5 is the mean of AC@1..AC@5. Two levels:

- ``service``: the ranking read as components (a column ``<component>_<metric>`` names its
  component; repeats dropped, first place kept); the answer is the fault's component, or either
  host of a partition. Host and disk faults are answered by the host or disk, whose own series
  the cases carry.
- ``root``: as ``service``, but a service placed on a faulty host or disk (either host of a
  partition) counts too: the fault's root as ``opstwin.evaluation.metrics.fault_root`` has it. A
  method that sees a failed disk's services erroring names them, not the disk.
- ``indicator``: the ranking of columns itself against the fault's own column (``case.json``'s
  ``indicator``), for fault types that have one and methods that rank columns (not ``team``).

A method that fails on a case (CIRCA on more columns than its PC search can take, or a singular
test) ranks nothing there: a miss, counted in ``failed``. Per fault type and overall, each figure
is a mean over cases with a 95% percentile-bootstrap interval (:func:`opstwin.evaluation.report.bootstrap`,
seeded from the scope and metric, so the same cases give the same report). Outputs in the cases'
folder: ``rca_ranks.jsonl`` (each method's top ranks per case), ``rca_scores.csv``, ``rca_report.md``.
Figures depend only on the cases; seconds per case are the machine's and are reported apart.
"""

from __future__ import annotations

import csv
import json
import multiprocessing as mp
import time
from pathlib import Path
from typing import Any, Callable

from opstwin.rca.export import METRIC_SUFFIXES, ExportError
from opstwin.rca.methods import METHODS, MethodError, one_thread, quiet_warnings, rank

KS = (1, 2, 3, 4, 5)
LEVELS = ("service", "root", "indicator")
OVERALL = "overall"
KEEP_RANKS = 10  # ranks kept per case and method in rca_ranks.jsonl


def find_cases(folder: Path) -> list[Path]:
    """The case folders under `folder` (each holds case.json), sorted by name: those of its last
    export when it has an export.json (an export into an old folder leaves the old cases there)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ExportError(f"{folder}: no such folder (give the --out of `opstwin rca export`)")
    index = folder / "export.json"
    listed = set(json.loads(index.read_text()).get("cases", [])) if index.is_file() else None
    cases = sorted(p for p in folder.iterdir()
                   if (p / "case.json").is_file() and (listed is None or p.name in listed))
    if not cases:
        raise ExportError(f"{folder}: no cases (folders with case.json); make them with `opstwin rca export`")
    return cases


def parse_methods(text: str) -> list[str]:
    """`baro,nsigma` -> ["baro", "nsigma"]; an unknown name is bad input."""
    names = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in names if m not in METHODS]
    if unknown or not names:
        raise ExportError(f"--methods: unknown method {unknown[0] if unknown else text!r} "
                          f"(known: {', '.join(METHODS)})")
    return list(dict.fromkeys(names))


def component(column: str) -> str:
    """The component a ranked name stands for: `svc-1_latency-50` -> `svc-1`; a bare name is itself."""
    head, _, tail = column.rpartition("_")
    return head if head and tail in METRIC_SUFFIXES else column


def components(ranks: list[str]) -> list[str]:
    return list(dict.fromkeys(component(r) for r in ranks))


def _score_case(task: tuple[str, str]) -> dict[str, Any]:
    """One (case, method): the ranking and the hits at each k (a failure ranks nothing)."""
    case_dir, method = Path(task[0]), task[1]
    quiet_warnings()
    truth = json.loads((case_dir / "case.json").read_text())
    started = time.perf_counter()  # clock-ok: reported apart, never decided on
    error = None
    try:
        ranks = rank(method, case_dir)
    except MethodError as exc:
        ranks, error = [], str(exc)
    except Exception as exc:  # noqa: BLE001 - a package's own failure on a case is the method's miss
        ranks, error = [], f"{type(exc).__name__}: {exc}"
    seconds = time.perf_counter() - started  # clock-ok
    answers = set(truth["root_cause"]["components"])
    comps = components(ranks)
    row: dict[str, Any] = {"case": case_dir.name, "method": method, "fault": truth["fault"], "error": error,
                           "ranks": ranks[:KEEP_RANKS], "seconds": round(seconds, 3)}
    row["service"] = [bool(answers & set(comps[:k])) for k in KS]
    root = answers | set(truth["root_cause"].get("placed") or [])
    row["root"] = [bool(root & set(comps[:k])) for k in KS]
    indicator = truth.get("indicator")
    row["indicator"] = ([indicator in ranks[:k] for k in KS] if indicator and method != "team" else None)
    return row


def run_methods(cases: list[Path], methods: list[str], jobs: int = 1,
                progress: Callable[[int, int], None] | None = None) -> list[dict[str, Any]]:
    """Every method on every case (`jobs` worker processes); rows in (case, method) order."""
    tasks = [(str(c), m) for c in cases for m in methods]
    rows: list[dict[str, Any]] = []
    if jobs <= 1:
        quiet_warnings()
        for i, t in enumerate(tasks):
            rows.append(_score_case(t))
            if progress:
                progress(i + 1, len(tasks))
        return rows
    pool = mp.get_context("spawn").Pool(jobs, initializer=one_thread)
    try:
        for i, row in enumerate(pool.imap(_score_case, tasks, chunksize=1)):
            rows.append(row)
            if progress:
                progress(i + 1, len(tasks))
    except BaseException:
        pool.terminate()
        raise
    pool.close()
    pool.join()
    return rows


def aggregate(rows: list[dict[str, Any]], methods: list[str]) -> list[dict[str, Any]]:
    """One record per (method, level, scope): n, failed, and AC@1, AC@3, Avg@5 with CIs."""
    from opstwin.evaluation.report import bootstrap

    scopes = [OVERALL, *sorted({r["fault"] for r in rows})]
    out: list[dict[str, Any]] = []
    for level in LEVELS:
        for scope in scopes:
            for method in methods:
                sel = [r for r in rows if r["method"] == method and (scope == OVERALL or r["fault"] == scope)
                       and r[level] is not None]
                if not sel:
                    continue
                hits = [r[level] for r in sel]
                rec: dict[str, Any] = {"method": method, "level": level, "fault": scope, "cases": len(sel),
                                       "failed": sum(1 for r in sel if r["error"])}
                for name, vals in (("ac1", [h[0] for h in hits]), ("ac3", [h[2] for h in hits]),
                                   ("avg5", [sum(h) / len(KS) for h in hits])):
                    st = bootstrap([float(v) for v in vals], f"rca|{level}|{scope}|{name}")
                    rec.update({name: st.mean, f"{name}_lo": st.lo, f"{name}_hi": st.hi})
                rec["seconds_mean"] = round(sum(r["seconds"] for r in sel) / len(sel), 3)
                out.append(rec)
    return out


CSV_FIELDS = ("method", "level", "fault", "cases", "failed", "ac1", "ac1_lo", "ac1_hi", "ac3", "ac3_lo", "ac3_hi",
              "avg5", "avg5_lo", "avg5_hi")


def _fmt(rec: dict[str, Any], name: str) -> str:
    return f"{rec[name]:.2f} [{rec[name + '_lo']:.2f}, {rec[name + '_hi']:.2f}]"


def summary_table(table: list[dict[str, Any]], methods: list[str]) -> list[str]:
    """The service level at a glance: a row per fault type, a column per method, each cell
    `AC@1 [95% CI] · AC@3 · Avg@5` (the README's table)."""
    recs = {(r["fault"], r["method"]): r for r in table if r["level"] == "service"}
    scopes = list(dict.fromkeys(r["fault"] for r in table if r["level"] == "service"))
    lines = ["| fault type | cases | " + " | ".join(methods) + " |", "| --- | --- |" + " --- |" * len(methods)]
    for scope in scopes:
        cells = []
        for m in methods:
            r = recs.get((scope, m))
            cells.append("–" if r is None else f"{r['ac1']:.2f} [{r['ac1_lo']:.2f}, {r['ac1_hi']:.2f}] · "
                         f"{r['ac3']:.2f} · {r['avg5']:.2f}" + (f" ({r['failed']} failed)" if r["failed"] else ""))
        n = next(recs[(scope, m)]["cases"] for m in methods if (scope, m) in recs)
        lines.append(f"| {'**overall**' if scope == OVERALL else scope} | {n} | " + " | ".join(cells) + " |")
    return lines


def markdown(table: list[dict[str, Any]], methods: list[str], n_cases: int, source: str) -> str:
    """rca_report.md: the summary, then per level one row per fault type and method (overall first)."""
    lines = [f"# RCA scores: {n_cases} cases in `{source}`", "",
             "AC@1, AC@3, Avg@5 with 95% bootstrap intervals over cases; `failed`: cases the method could "
             "not rank (counted as misses). Definitions in `opstwin/rca/score.py`.", "",
             "## Summary (service level: AC@1 [95% CI] · AC@3 · Avg@5)", "", *summary_table(table, methods), ""]
    for level, title in (("service", "Service level (the root component)"),
                         ("root", "Root level (the component, or a service placed on a faulty host or disk)"),
                         ("indicator", "Indicator level (the fault's own column, where it has one)")):
        recs = [r for r in table if r["level"] == level]
        if not recs:
            continue
        lines += [f"## {title}", "", "| fault | method | cases | failed | AC@1 | AC@3 | Avg@5 |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for r in recs:
            lines.append(f"| {r['fault']} | {r['method']} | {r['cases']} | {r['failed']} | {_fmt(r, 'ac1')} | "
                         f"{_fmt(r, 'ac3')} | {_fmt(r, 'avg5')} |")
        lines.append("")
    secs = {m: [r["seconds_mean"] for r in table if r["method"] == m and r["level"] == "service"
                and r["fault"] == OVERALL] for m in methods}
    lines += ["## Time (this machine)", "", "| method | seconds per case |", "| --- | --- |",
              *[f"| {m} | {s[0]:.2f} |" for m, s in secs.items() if s], ""]
    return "\n".join(lines)


def score(folder: Path, methods: list[str], jobs: int = 1,
          progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """`opstwin rca score`: rank, score, write rca_ranks.jsonl, rca_scores.csv and rca_report.md."""
    folder = Path(folder)
    cases = find_cases(folder)
    from opstwin.rca.methods import check_available

    check_available(methods)
    rows = run_methods(cases, methods, jobs, progress)
    table = aggregate(rows, methods)
    with (folder / "rca_ranks.jsonl").open("w") as fh:
        for r in rows:
            fh.write(json.dumps({k: v for k, v in r.items() if k != "seconds"}) + "\n")
    with (folder / "rca_scores.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(CSV_FIELDS)
        for r in table:
            w.writerow([round(r[k], 4) if isinstance(r[k], float) else r[k] for k in CSV_FIELDS])
    report = markdown(table, methods, len(cases), str(folder))
    (folder / "rca_report.md").write_text(report)
    return {"cases": len(cases), "table": table, "report": report, "rows": rows}
