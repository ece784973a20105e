"""The regression gate: a committed baseline of metric means, and a check of an eval against it.

``opstwin eval ... --write-baseline FILE`` writes the ``baseline`` variant's means (overall and
per scenario) for the gated metrics; ``opstwin eval ... --check FILE`` compares every variant of
the eval to it and fails (exit 1) naming each metric that got worse by more than its tolerance.

Gated are the quality metrics, each with a direction and a tolerance on its scale:

- rates in [0, 1] (precision, recall, F1, AC@1, AC@3, mitigation success): higher is better,
  absolute tolerance 0.05;
- false alerts per day: lower is better, absolute 1.0 per day;
- times (TTD, TTM, MTTR, seconds): lower is better, relative 0.25 (at least 10 s, one tick);
- TNR undos and escalations (per run): lower is better, absolute 0.5.

Never gated: wall time and speed (machine-dependent), counts that describe the scenario (faults
injected) and effort figures without a better direction (actions and messages per incident).
``--tolerance METRIC=VALUE`` replaces one metric's tolerance, ``--tolerance VALUE`` all of them
(keeping each metric's kind: absolute for rates and counts, relative for times).

CI (``.ci/run``) checks the scenario library, seeds 1-2, against ``scenarios/baseline.json``. After
an intended change of the team's behaviour, regenerate that file (and commit it) with::

    opstwin eval scenarios/ --seeds 2 --jobs 2 --out /tmp/opstwin-eval --write-baseline scenarios/baseline.json
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opstwin.evaluation.report import OVERALL, Stat, aggregate, fmt

HIGHER, LOWER = "higher", "lower"
ABS, REL = "absolute", "relative"
MIN_SLACK_S = 10.0


@dataclass(frozen=True)
class Rule:
    direction: str
    kind: str
    tolerance: float


RULES: dict[str, Rule] = {
    **{m: Rule(HIGHER, ABS, 0.05) for m in ("detection_precision", "detection_recall", "detection_f1",
                                               "rca_ac1", "rca_ac3", "rca_type_ac1", "rca_type_ac3",
                                               "mitigation_success_rate")},
    "false_alerts_per_day": Rule(LOWER, ABS, 1.0),
    **{m: Rule(LOWER, REL, 0.25) for m in ("ttd_mean_s", "ttm_mean_s", "mttr_mean_s")},
    "tnr_undos": Rule(LOWER, ABS, 0.5),
    "tnr_undos_unjustified": Rule(LOWER, ABS, 0.5),
    "escalations": Rule(LOWER, ABS, 0.5),
    "slo_minutes_lost": Rule(LOWER, REL, 0.25),
    "actions_per_fault": Rule(LOWER, REL, 0.25),
    "harmful_actions": Rule(LOWER, ABS, 0.5),
}


class GateError(ValueError):
    """A baseline file or tolerance that cannot be used (exit 2)."""


@dataclass(frozen=True)
class Finding:
    variant: str
    scope: str
    metric: str
    value: float | None
    base: float
    allowed: float
    rule: Rule

    def __str__(self) -> str:
        where = "overall" if self.scope == OVERALL else f"scenario {self.scope}"
        if self.value is None:
            return (f"variant {self.variant}, {where}: {self.metric} is undefined (no finished run defines it; "
                    f"baseline {fmt(self.metric, self.base)})")
        op = "<" if self.rule.direction == HIGHER else ">"
        tol = (f"{self.rule.tolerance:g}" if self.rule.kind == ABS else f"{self.rule.tolerance:.0%}")
        return (f"variant {self.variant}, {where}: {self.metric} {fmt(self.metric, self.value)} {op} "
                f"{fmt(self.metric, self.allowed)} (baseline {fmt(self.metric, self.base)}, {self.rule.kind} "
                f"tolerance {tol}; {self.rule.direction} is better)")


def parse_tolerances(specs: tuple[str, ...] | list[str]) -> dict[str, Rule]:
    """``0.1`` (all metrics) and ``metric=0.1`` (one) -> rules; later options win."""
    rules = dict(RULES)
    for spec in specs:
        name, sep, raw = spec.rpartition("=")
        try:
            tol = float(raw)
        except ValueError:
            raise GateError(f"bad tolerance {spec!r} (expected VALUE or METRIC=VALUE, e.g. ttm_mean_s=0.5)") from None
        if tol < 0 or tol != tol:
            raise GateError(f"bad tolerance {spec!r} (must be a number >= 0)")
        if not sep:
            rules = {m: Rule(r.direction, r.kind, tol) for m, r in rules.items()}
        elif name not in RULES:
            raise GateError(f"unknown gated metric {name!r} in --tolerance (gated: {', '.join(RULES)})")
        else:
            rules[name] = Rule(rules[name].direction, rules[name].kind, tol)
    return rules


def means(records: list[dict[str, Any]], variant: str) -> dict[str, dict[str, float | None]]:
    agg = aggregate([r for r in records if r.get("variant") == variant], list(RULES))
    return {scope: {m: s.mean for m, s in stats.items()} for scope, stats in agg.get(variant, {}).items()}


def baseline_data(results: dict[str, Any], variant: str = "baseline") -> dict[str, Any]:
    m = means(results["runs"], variant)
    if not m:
        raise GateError(f"no finished {variant} runs to write a baseline from")
    return {
        "opstwin_baseline": 1,
        "command": results.get("command"),
        "seeds": results["seeds"],
        "scenarios": [s for s in results["scenarios"] if s in m],
        "rules": {k: {"direction": r.direction, "kind": r.kind, "tolerance": r.tolerance} for k, r in RULES.items()},
        "overall": m.get(OVERALL, {}),
        "per_scenario": {s: m[s] for s in results["scenarios"] if s in m},
    }


def write_baseline(path: Path, results: dict[str, Any]) -> dict[str, Any]:
    data = baseline_data(results)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(data, indent=2) + "\n")
    return data


def read_baseline(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text())
    except OSError as exc:
        raise GateError(f"{path}: cannot read baseline: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise GateError(f"{path}: not a JSON baseline: {exc}") from None
    if not isinstance(data, dict) or data.get("opstwin_baseline") != 1 or "overall" not in data:
        raise GateError(f"{path}: not an opstwin baseline (write one with `opstwin eval ... --write-baseline`)")
    return data


def _allowed(rule: Rule, base: float) -> float:
    if rule.kind == ABS:
        slack = rule.tolerance
    else:
        slack = max(rule.tolerance * abs(base), MIN_SLACK_S)
    return base + slack if rule.direction == LOWER else base - slack


def _worse(rule: Rule, v: float, allowed: float) -> bool:
    eps = 1e-9
    return v > allowed + eps if rule.direction == LOWER else v < allowed - eps


REFERENCES = ("no-logs", "shotgun", "random")  # variants `eval --baselines` adds: read against, never gated


def check(results: dict[str, Any], baseline: dict[str, Any], rules: dict[str, Rule] | None = None
          ) -> tuple[list[Finding], list[str]]:
    """(regressions, notes) for every variant of `results` against `baseline`, except the reference
    teams of :data:`REFERENCES` (a baseline that gets worse is no regression of the team)."""
    rules = rules or RULES
    notes: list[str] = []
    findings: list[Finding] = []
    eval_scen = [s for s in results["scenarios"]]
    base_scen = list(baseline.get("per_scenario", {}))
    missing = [s for s in base_scen if s not in eval_scen]
    scopes = [s for s in eval_scen if s in baseline.get("per_scenario", {})]
    if missing:
        notes.append(f"not in this eval, not checked: {', '.join(missing)}")
    extra = [s for s in eval_scen if s not in base_scen]
    if extra:
        notes.append(f"not in the baseline, not checked: {', '.join(extra)}")
    if not missing and not extra:
        scopes = [OVERALL, *scopes]
    else:
        notes.append("overall means not compared (the scenario sets differ); per-scenario means are")
    if list(results["seeds"]) != list(baseline.get("seeds", [])):
        notes.append(f"seeds differ from the baseline's ({baseline.get('seeds')}); means are compared as estimates")
    for variant in results["variants"]:
        if variant in REFERENCES:
            continue
        m = means(results["runs"], variant)
        for scope in scopes:
            base = baseline["overall"] if scope == OVERALL else baseline["per_scenario"][scope]
            for metric, rule in rules.items():
                b = base.get(metric)
                if b is None:
                    continue
                v = m.get(scope, {}).get(metric)
                allowed = _allowed(rule, b)
                if v is None or _worse(rule, v, allowed):
                    findings.append(Finding(variant, scope, metric, v, b, allowed, rule))
    return findings, notes


__all__ = ["REFERENCES", "RULES", "Rule", "Finding", "GateError", "check", "parse_tolerances", "read_baseline", "write_baseline",
           "Stat"]
