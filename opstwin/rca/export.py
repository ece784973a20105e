"""``opstwin rca export``: a recorded run's faults as RCAEval cases, one folder per injected fault.

A case folder holds what an RCA method reads, in RCAEval's layout (its ``read_metrics`` and
``read_logs`` load it), and the answer apart:

- ``metrics.json``: ``{"<component>_<metric>": [[unix_seconds, value], ...]}`` over the window
  around the injection. Per service: ``cpu`` (cores), ``mem`` (bytes), ``latency-50``,
  ``latency-90``, ``latency-99`` (seconds), ``error`` (share of requests), ``workload`` (requests/s);
  per host: ``cpu`` (demand over capacity), ``rtt`` (seconds); per disk: ``usage`` (share used),
  ``io-errors`` (per tick). The twin models p50 and p99; ``latency-90`` is read between them on
  a log scale at the point an exponential tail puts it (``P90_WEIGHT``), so it adds no information.
- ``inject_time.txt``: integer Unix seconds (sim time 0 is ``EPOCH``) of the first sample after the
  fault's start (``start_s`` in case.json is the start itself), where RCA methods split normal from
  anomalous.
- ``logs.csv``: ``time,container_name,message``, the WARN/ERROR lines services wrote in the window.
- ``case.json``: the ground truth (root component, its kind, a partition's peer, the services
  placed on a faulty host or disk, the fault type,
  the indicator column where one metric is the fault's own), where it came from (scenario, seed,
  variant, ``log_sha256``, run folder), the window, the other faults active in it, and the team's
  diagnosis of this fault from the run's incident log (for ``opstwin rca score --methods team``).

A run made without ``--record-series`` is replayed with the recorder on (opstwin.rca.replay): the
same scenario, seed and variant give the same run, checked by its ``log_sha256``.

Nothing outside ``case.json`` names the fault: folders are ``<scenario>-<seed>-<n>`` (n counts the
run's faults in injection order), and the export's own ``export.json`` lists cases, not answers.
"""

from __future__ import annotations

import csv
import gzip
import json
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from opstwin.engine.series import LOGS_FILE, SERIES_FILE, Series, load
from opstwin.rca.replay import ReplayError, eval_records, replay, run_key

P90_WEIGHT = math.log(math.log(10) / math.log(2)) / math.log(math.log(100) / math.log(2))  # ~0.634
SERVICE_COLUMNS = ("cpu", "mem", "latency-50", "latency-90", "latency-99", "error", "workload")
HOST_COLUMNS = ("cpu", "rtt")
DISK_COLUMNS = ("usage", "io-errors")
METRIC_SUFFIXES = frozenset({*SERVICE_COLUMNS, *HOST_COLUMNS, *DISK_COLUMNS})
# the one metric that is a fault's own, where there is one (indicator-level AC@k); others: None
INDICATOR = {"disk_fill": "usage", "disk_failure": "io-errors", "cpu_saturation": "cpu", "memory_leak": "mem",
             "network_latency": "rtt", "traffic_spike": "workload"}
MIN_NORMAL = 3  # samples before the injection that a method needs at the least (a scaler's fit)


class ExportError(ValueError):
    """Bad input for an export or a score (one line, exit 2)."""


@dataclass(frozen=True)
class Source:
    """One recorded run to export."""

    run_dir: Path
    variant: str | None
    series_dir: Path | None = None  # where its series are, when not in run_dir (a replay: opstwin.rca.replay)


def find_runs(path: Path, variant: str = "baseline") -> list[Source]:
    """The run folders under `path`: a run folder itself, or an eval folder's runs of `variant`."""
    path = Path(path)
    if not path.is_dir():
        raise ExportError(f"{path}: no such folder (give a run folder or an `opstwin eval` output folder)")
    if (path / "summary.json").is_file():
        return [Source(path, None)]
    if not (path / "results.json").is_file():
        raise ExportError(f"{path}: neither a run folder (summary.json) nor an eval folder (results.json)")
    variants = sorted(p.name for p in (path / "runs").iterdir() if p.is_dir()) if (path / "runs").is_dir() else []
    if variant not in variants:
        raise ExportError(f"{path}: no runs of variant {variant!r} (has: {', '.join(variants) or 'none'})")
    runs = sorted(p for p in (path / "runs" / variant).iterdir() if (p / "summary.json").is_file())
    return [Source(p, variant) for p in runs]


def service_frame(series: Series, k0: int, k1: int) -> dict[str, np.ndarray]:
    """The exported columns of ticks [k0, k1): {column name: values}."""
    c = series.columns
    out: dict[str, np.ndarray] = {}
    p50, p99 = c["p50"][k0:k1].astype(np.float64), c["p99"][k0:k1].astype(np.float64)
    safe50 = np.maximum(p50, 1e-9)
    p90 = safe50 * np.power(np.maximum(p99, safe50) / safe50, P90_WEIGHT)
    per = {"cpu": c["cpu"][k0:k1], "mem": c["memory"][k0:k1] * series.mem_limit, "latency-50": p50,
           "latency-90": p90, "latency-99": p99, "error": c["error"][k0:k1], "workload": c["rate"][k0:k1]}
    for j, name in enumerate(series.services):
        for col in SERVICE_COLUMNS:
            out[f"{name}_{col}"] = per[col][:, j]
    for j, name in enumerate(series.hosts):
        out[f"{name}_cpu"] = c["host_cpu"][k0:k1, j]
        out[f"{name}_rtt"] = c["host_rtt"][k0:k1, j]
    for j, name in enumerate(series.disks):
        out[f"{name}_usage"] = c["disk_used"][k0:k1, j]
        out[f"{name}_io-errors"] = c["disk_io_errors"][k0:k1, j]
    return out


def _check_names(series: Series, run_dir: Path) -> None:
    names = [*series.services, *series.hosts, *series.disks]
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise ExportError(f"{run_dir}: component name {n!r} is used twice (a service, host or disk): "
                              "its columns would be ambiguous")
        seen.add(n)


def _value(v: float) -> float:
    """Seven significant digits: what float32 telemetry holds, without float64 noise in the file."""
    return float(f"{v:.7g}")


def export_run(src: Source, out: Path, before: float, after: float) -> tuple[list[str], list[str]]:
    """Write the cases of one run into `out`; returns (case names, skipped fault notes)."""
    run_dir = src.run_dir
    data = src.series_dir or run_dir
    if not (data / SERIES_FILE).is_file():
        raise ExportError(f"{run_dir}: no recorded series ({SERIES_FILE}); run it with --record-series")
    summary = json.loads((run_dir / "summary.json").read_text())
    series = load(data)
    _check_names(series, run_dir)
    if series.tick != int(series.tick) or series.tick < 1:
        raise ExportError(f"{run_dir}: tick {series.tick} s: RCAEval timestamps are whole seconds, "
                          "so the export needs a tick of a whole number of seconds")
    stamps = series.epoch + np.rint(series.t).astype(np.int64)
    lines = _read_logs(data)
    names, skipped = [], []
    faults = summary.get("faults", [])
    for n, f in enumerate(faults, start=1):
        case = f"{summary['scenario']}-{summary['seed']}-{n:02d}"
        start = float(f["start"])
        k0 = int(np.searchsorted(series.t, start - before, side="left"))
        # the first sample the fault shows in: a frame stamped `start` was made before it took effect
        k_inj = int(np.searchsorted(series.t, start, side="right"))
        k1 = int(np.searchsorted(series.t, start + after, side="left"))  # [start - before, start + after)
        if k_inj - k0 < MIN_NORMAL or k1 <= k_inj:
            skipped.append(f"{case}: {k_inj - k0} samples before the injection, {k1 - k_inj} after "
                           f"(needs {MIN_NORMAL} and 1)")
            continue
        folder = out / case
        folder.mkdir(parents=True, exist_ok=True)
        ts = stamps[k0:k1].tolist()
        cols = service_frame(series, k0, k1)
        metrics = {name: [[t, _value(v)] for t, v in zip(ts, vals.tolist())] for name, vals in cols.items()}
        (folder / "metrics.json").write_text(json.dumps(metrics, separators=(",", ":")) + "\n")
        inject = int(stamps[k_inj])  # methods split normal (< inject_time) from anomalous here
        (folder / "inject_time.txt").write_text(f"{inject}\n")
        _write_logs(folder / "logs.csv", lines, series, start - before, start + after)
        (folder / "case.json").write_text(json.dumps(
            _case(f, faults, summary, src, run_dir, before, after, inject, len(cols), _placed(f, series, k_inj)),
            indent=1, sort_keys=True) + "\n")
        names.append(case)
    return names, skipped


def _placed(f: dict[str, Any], series: Series, k: int) -> list[str]:
    """The services placed on a faulty host (both hosts of a partition) or disk when it was injected."""
    hosts = [h for h in (f["target"] if f["target_kind"] == "host" else None, (f.get("params") or {}).get("peer"))
             if h in series.hosts]
    on = np.isin(series.svc_host[min(k, len(series.svc_host) - 1)], [series.hosts.index(h) for h in hosts])
    if f["target_kind"] == "disk" and f["target"] in series.disks:
        on |= series.svc_disk == series.disks.index(f["target"])
    return [s for s, yes in zip(series.services, on.tolist()) if yes]


def _case(f: dict[str, Any], faults: list[dict[str, Any]], summary: dict[str, Any], src: Source, run_dir: Path,
          before: float, after: float, inject: int, columns: int, placed: list[str]) -> dict[str, Any]:
    """case.json: ground truth, provenance, window, concurrent faults, the team's diagnosis."""
    start = float(f["start"])
    peer = (f.get("params") or {}).get("peer")
    indicator = INDICATOR.get(f["type"])
    others = [{"fault_id": g["id"], "type": g["type"], "target": g["target"], "start_s": g["start"],
               "resolved_at_s": g.get("resolved_at")}
              for g in faults if g["id"] != f["id"] and g["start"] < start + after
              and (g.get("resolved_at") is None or g["resolved_at"] > start - before)]
    team = None
    if "diagnosis" in f or "rca_ac1" in f:  # a run with the team: its diagnosis of this fault (or none)
        team = {"diagnosed_at_s": f.get("diagnosed_at"),
                "candidates": [{"component": c, "fault": t} for c, t in f.get("diagnosis") or []]}
    return {
        "opstwin_case": 1,
        "root_cause": {"component": f["target"], "kind": f["target_kind"], "peer": peer,
                       "components": [f["target"], *([peer] if peer else [])], "placed": placed},
        "fault": f["type"], "category": f.get("category"), "fault_id": f["id"], "params": f.get("params"),
        "indicator": f"{f['target']}_{indicator}" if indicator else None,
        "inject_time": inject, "start_s": start, "resolved_at_s": f.get("resolved_at"),
        "scenario": summary["scenario"], "seed": summary["seed"], "variant": src.variant,
        "log_sha256": summary.get("log_sha256"), "run": str(run_dir.resolve()),
        "window": {"before_s": before, "after_s": after}, "columns": columns,
        "concurrent_faults": others, "team": team,
    }


def _read_logs(run_dir: Path) -> list[tuple[float, str, str]]:
    path = run_dir / LOGS_FILE
    if not path.is_file():
        return []
    with gzip.open(path, "rt", newline="") as fh:
        rows = csv.reader(fh)
        next(rows, None)
        return [(float(t), s, line) for t, s, line in rows]


def _write_logs(path: Path, lines: list[tuple[float, str, str]], series: Series, lo: float, hi: float) -> None:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["time", "container_name", "message"])
        w.writerows((series.epoch + int(round(t)), s, m) for t, s, m in lines if lo <= t < hi)


def export(path: Path, out: Path, *, before: float = 600.0, after: float = 600.0, variant: str = "baseline",
           say: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """Export every recorded run under `path` into `out`; returns what export.json holds."""
    if before <= 0 or after <= 0:
        raise ExportError("--before and --after must be positive durations")
    sources = find_runs(path, variant)
    out = Path(out)
    cases: list[str] = []
    skipped: list[str] = []
    with tempfile.TemporaryDirectory(prefix="opstwin-replay-") as work:
        records, variants = eval_records(Path(path)) if (Path(path) / "results.json").is_file() else ({}, {})
        ready = []
        for k, src in enumerate(sources):
            if not (src.run_dir / SERIES_FILE).is_file():  # made without --record-series: replay it exactly
                try:
                    replayed = replay(src.run_dir, Path(work) / str(k), records.get(run_key(src.run_dir)),
                                      variants, say)
                except ReplayError as exc:
                    raise ExportError(str(exc)) from None
                src = Source(src.run_dir, src.variant, replayed)
            ready.append(src)
        out.mkdir(parents=True, exist_ok=True)
        for src in ready:
            names, skip = export_run(src, out, before, after)
            cases += names
            skipped += skip
    index = {"opstwin_rca_export": 1, "source": str(Path(path).resolve()), "variant": variant,
             "window": {"before_s": before, "after_s": after}, "cases": cases, "skipped": skipped,
             "columns": {"service": list(SERVICE_COLUMNS), "host": list(HOST_COLUMNS), "disk": list(DISK_COLUMNS)}}
    (out / "export.json").write_text(json.dumps(index, indent=1) + "\n")
    for note in skipped:
        say(f"skipped {note}")
    return index
