"""Aggregating eval results: means with 95% bootstrap confidence intervals, and report.md.

A metric's value for a set of runs is its mean over the runs where it is defined (``rca_ac1`` is
undefined on a run without faults). Its 95% confidence interval is the percentile bootstrap over
those runs (2,000 resamples), drawn from a numpy Generator seeded from the metric and scope names
(not the variant: variants with as many runs resample the same seeds, paired), so the same results
give the same report, byte for byte, whatever order the runs finished in. Wall time and speed depend on the machine; they get their own section.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

# metric names as opstwin.evaluation.metrics computes them (the agent-team issue fixes them), in report order
METRICS = [
    "detection_precision", "detection_recall", "detection_f1", "false_alerts_per_day", "ttd_mean_s",
    "rca_ac1", "rca_ac3", "rca_type_ac1", "rca_type_ac3", "mitigation_success_rate", "ttm_mean_s", "mttr_mean_s",
    "slo_minutes_lost", "actions_per_fault", "harmful_actions", "tnr_undos",
    "escalations", "actions_per_incident", "messages_per_incident", "faults_injected", "faults_resolved", "fixed_late", "tnr_undos_unjustified",
]
# per-fault flags pooled over every fault of a variant's runs (fault-weighted, beside the per-run means)
BY_FAULT = [("detected", "detected_at"), ("rca_ac1", "rca_ac1"), ("rca_ac3", "rca_ac3"),
            ("rca_type_ac1", "rca_type_ac1"), ("rca_type_ac3", "rca_type_ac3"), ("mitigated", "mitigated")]
# the Contract-Net marketplace (opstwin/evaluation/bidding.py): reported in their own section
BIDDING = ["mttr_mean_s", "allocation_efficiency", "load_fairness", "bids_per_task", "auction_messages_per_task",
           "messages_per_task", "throughput_per_hour", "tasks"]
PERF = ["wall_seconds", "speedup"]  # machine-dependent: reported apart, never gated
# what an LLM reasoner did (opstwin.evaluation.metrics.llm_usage): a team without one made no calls (0)
LLM = ["llm_calls", "llm_tokens_prompt", "llm_tokens_answer", "llm_latency_s", "llm_rejections", "llm_errors",
       "llm_fallbacks"]
OVERALL = "overall"
BOOT_SEED = 20240611
RESAMPLES = 2000


@dataclass(frozen=True)
class Stat:
    mean: float | None
    lo: float | None
    hi: float | None
    n: int

    def as_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "ci95": [self.lo, self.hi], "n": self.n}


def bootstrap(values: list[float], key: str, resamples: int = RESAMPLES) -> Stat:
    """Mean and 95% percentile-bootstrap CI of `values`, with a Generator seeded from `key`."""
    x = np.asarray([v for v in values if v is not None], dtype=float)
    if len(x) == 0:
        return Stat(None, None, None, 0)
    mean = float(x.mean())
    if len(x) == 1 or np.all(x == x[0]):
        return Stat(mean, mean, mean, len(x))
    rng = np.random.default_rng([BOOT_SEED, zlib.crc32(key.encode())])
    means = x[rng.integers(0, len(x), size=(resamples, len(x)))].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return Stat(mean, float(lo), float(hi), len(x))


def value(record: dict[str, Any], metric: str) -> float | None:
    if metric in PERF:
        return record.get(metric)
    v = record.get("metrics", {}).get(metric)
    return None if isinstance(v, bool) or not isinstance(v, (int, float)) else v


def aggregate(records: list[dict[str, Any]], metrics: list[str] | None = None) -> dict[str, dict[str, dict[str, Stat]]]:
    """{variant: {"overall" | scenario: {metric: Stat}}} over the finished (ok) runs."""
    metrics = metrics or [*METRICS, *BIDDING[1:], *PERF]
    ok = sorted((r for r in records if r.get("status") == "ok"), key=lambda r: (r["variant"], r["scenario"], r["seed"]))
    out: dict[str, dict[str, dict[str, Stat]]] = {}
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in ok:
        groups.setdefault((r["variant"], OVERALL), []).append(r)
        groups.setdefault((r["variant"], r["scenario"]), []).append(r)
    for (variant, scope), runs in groups.items():
        out.setdefault(variant, {})[scope] = {
            m: bootstrap([value(r, m) for r in runs], f"{scope}|{m}") for m in metrics}
    return out


def fmt(metric: str, x: float | None) -> str:
    if x is None:
        return "-"
    if metric.endswith("_s") or metric in PERF:
        return f"{x:,.1f}" if abs(x) < 1e5 else f"{x:,.0f}"
    if metric in ("faults_injected", "faults_resolved", "fixed_late", "tnr_undos", "tnr_undos_unjustified", "escalations", "harmful_actions") or metric.startswith("llm_") or metric.endswith(
            "_per_incident") or metric == "false_alerts_per_day":
        return f"{x:.2f}"
    return f"{x:.3f}"


def cell(metric: str, s: Stat | None, runs: int) -> str:
    if s is None or s.mean is None:
        return "-"
    text = fmt(metric, s.mean) if s.lo == s.hi else f"{fmt(metric, s.mean)} [{fmt(metric, s.lo)}, {fmt(metric, s.hi)}]"
    return text + (f" (n={s.n})" if s.n != runs else "")


def _table(agg: dict[str, dict[str, dict[str, Stat]]], variants: list[str], scope: str, metrics: list[str],
           counts: dict[str, int]) -> list[str]:
    lines = ["| metric | " + " | ".join(variants) + " |", "|---|" + "---|" * len(variants)]
    lines.append("| runs | " + " | ".join(str(counts.get(v, 0)) for v in variants) + " |")
    for m in metrics:
        cells = [cell(m, agg.get(v, {}).get(scope, {}).get(m), counts.get(v, 0)) for v in variants]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return lines


def by_fault(records: list[dict[str, Any]], variants: list[str]) -> list[str]:
    """A table of per-fault rates pooled over all faults (each fault counts once, whatever its run)."""
    lines = ["| per fault | " + " | ".join(variants) + " |", "|---|" + "---|" * len(variants)]
    pooled = {v: [f for r in records if r["variant"] == v and r.get("status") == "ok" for f in r.get("faults", [])]
              for v in variants}
    lines.append("| faults | " + " | ".join(str(len(pooled[v])) for v in variants) + " |")
    for name, key in BY_FAULT:
        cells = []
        for v in variants:
            fs = pooled[v]
            cells.append(f"{sum(1 for f in fs if f.get(key) not in (None, False)) / len(fs):.3f}" if fs else "-")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def write_report(path: Path, results: dict[str, Any], figures: list[str] | None = None,
                 gate_lines: list[str] | None = None) -> str:
    """Write report.md from the contents of results.json; returns the text."""
    records = results["runs"]
    variants = list(results["variants"])
    scenarios = list(results["scenarios"])
    agg = aggregate(records)
    ok = [r for r in records if r.get("status") == "ok"]
    failed = [r for r in records if r.get("status") != "ok"]
    seeds = results["seeds"]
    seed_text = f"{seeds[0]}..{seeds[-1]}" if seeds == list(range(seeds[0], seeds[-1] + 1)) else ", ".join(map(str, seeds))

    def counts(scope: str) -> dict[str, int]:
        return {v: sum(1 for r in ok if r["variant"] == v and scope in (OVERALL, r["scenario"])) for v in variants}

    lines = ["# opstwin eval report", ""]
    if results.get("interrupted") or results.get("runs_finished", len(records)) < results.get("runs_planned", 0):
        lines += [f"**Incomplete: {len(records)} of {results['runs_planned']} runs finished** "
                  f"({'interrupted' if results.get('interrupted') else 'not all runs ran'}); the figures below cover "
                  "the finished runs only.", ""]
    lines += [
        f"- scenarios ({len(scenarios)}): {', '.join(scenarios)}",
        f"- seeds: {seed_text} ({len(seeds)} per scenario and variant)",
        f"- runs: {len(records)} finished of {results.get('runs_planned', len(records))} planned, {len(failed)} failed",
        "- variants:",
    ]
    for v, overrides in results["variants"].items():
        lines.append(f"  - `{v}`: " + (", ".join(f"`{o}`" for o in overrides) if overrides else "the scenarios as written"))
    lines += ["", "Reproduce:", "", "```", results.get("command") or "opstwin eval ...", "```", "",
              "Every run is deterministic given (scenario, seed, variant); its incident log, summary and health "
              "are in `runs/<variant>/<scenario>-<seed>/`, and results.json has each log's sha256. One baseline run "
              "alone: `opstwin run <scenario file> --seed <seed>` gives the same log.", ""]
    lines += ["Each cell: mean over runs [95% bootstrap CI]; `(n=k)` when the metric is defined on k runs only "
              "(e.g. root-cause accuracy on a run without faults); `-` when defined on none.", ""]
    if gate_lines:
        lines += ["## Regression gate", "", *[f"- {g}" for g in gate_lines], ""]
    lines += ["## Overall", "", *_table(agg, variants, OVERALL, METRICS, counts(OVERALL)), ""]
    lines += ["## By fault", "", "Rates over every injected fault of the finished runs (fault-weighted; the table above "
              "averages per run).", "", *by_fault(records, variants), ""]
    lines += ["## Per scenario", ""]
    for s in scenarios:
        lines += [f"### {s}", "", *_table(agg, variants, s, METRICS, counts(s)), ""]
    lines += ["## Bidding", "", "How the Contract-Net marketplace allocated the work (`opstwin/evaluation/bidding.py`): "
              "allocation efficiency is the winner's realised time over the best bidder's true expected time "
              "(about 1 when the best bidder wins; below 1 when work went better than expected), load fairness Jain's index over specialists' busy time.", "",
              *_table(agg, variants, OVERALL, BIDDING, counts(OVERALL)), ""]
    for s in scenarios if len(scenarios) > 1 else []:
        lines += [f"### Bidding: {s}", "", *_table(agg, variants, s, BIDDING, counts(s)), ""]
    if any(r.get("metrics", {}).get("llm_calls") is not None for r in ok):
        team = [{**r, "metrics": {**{m: 0 for m in LLM}, **r.get("metrics", {})}} for r in ok
                if not str(results["variants"].get(r["variant"], "")).count("agents.baseline")]
        lines += ["## Reasoning (LLM)", "",
                  "Calls to the diagnoser's model per run, tokens of the prompts and the answers, the sim seconds "
                  "charged for them (`latency`), answers the checks rejected and incidents left to the rules "
                  "reasoner (`agents/llm/`). A variant reasoning with rules makes none.", "",
                  *_table(aggregate(team, LLM), variants, OVERALL, LLM, counts(OVERALL)), ""]
    lines += ["## Performance (machine-dependent, not gated)", "",
              *_table(agg, variants, OVERALL, PERF, counts(OVERALL)), ""]
    if failed:
        lines += ["## Failed runs", ""]
        lines += [f"- {r['variant']} {r['scenario']} seed {r['seed']}: {r.get('error')}" for r in failed]
        lines.append("")
    if figures:
        lines += ["## Figures", ""]
        lines += [f"![{Path(f).stem}]({f})" for f in figures]
        lines.append("")
    lines += ["## Definitions", "",
              "Metrics are defined in `opstwin/evaluation/metrics.py` (detection episodes, blast radius, AC@k, TTM, MTTR). "
              f"The CI is the 2.5th-97.5th percentile of {RESAMPLES} bootstrap resamples of the runs' values "
              "(seeded, so this report is reproducible); *overall* pools the runs of every scenario.", ""]
    text = "\n".join(lines)
    Path(path).write_text(text)
    return text
