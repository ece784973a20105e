"""Figures of an eval (matplotlib, Agg backend, PNG).

- ``timeline-<scenario>.png``: health H(s) over one run (baseline, first seed), each fault's
  window shaded, with its start, detection, diagnosis, fixing action and recovery marked;
- ``ttm-by-variant.png``: time to mitigate per fault (minutes), a box and the points per variant;
- ``detection-delay.png``: the distribution of time to detect per fault, per variant, with the
  share of faults never detected.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

MARKS = [  # (field, label, colour, line style)
    ("start", "fault start", "tab:red", "-"),
    ("detected_at", "detected", "tab:orange", "--"),
    ("diagnosed_at", "diagnosed", "tab:purple", "-."),
    ("action_at", "fixing action", "tab:blue", ":"),
    ("recovered_at", "recovered", "tab:green", "-"),
]
COLOURS = plt.rcParams["axes.prop_cycle"].by_key()["color"]


def _faults(records: list[dict[str, Any]], variant: str, field: str) -> list[float]:
    return [f[field] for r in records if r["variant"] == variant and r.get("status") == "ok"
            for f in r.get("faults", []) if f.get(field) is not None]


def timeline(record: dict[str, Any], path: Path) -> Path:
    """Health of one run with every fault's milestones."""
    tl = record["timeline"]
    t = np.asarray(tl["t"]) / 3600.0
    h = np.asarray(tl["health"])
    fig, ax = plt.subplots(figsize=(11, 4.2), dpi=110)
    ax.plot(t, h, color="black", lw=1.0, label="health H(s)")
    end = t[-1] if len(t) else 1.0
    seen: set[str] = set()
    for f in record.get("faults", []):
        start = f["start"] / 3600.0
        stop = (f.get("resolved_at") if f.get("resolved_at") is not None else end * 3600.0) / 3600.0
        ax.axvspan(start, stop, color="tab:red", alpha=0.08, lw=0)
        for key, label, colour, style in MARKS:
            x = f.get(key)
            if x is None:
                continue
            ax.axvline(x / 3600.0, color=colour, ls=style, lw=1.3, label=None if label in seen else label)
            seen.add(label)
        ax.annotate(f"{f['id']} {f['type']}\n{f['target']}", (start, 1.0), xytext=(3, -2), textcoords="offset points",
                    fontsize=7, va="top", color="tab:red", rotation=0)
    lo = float(np.nanmin(h)) if len(h) else 0.0
    ax.set_ylim(max(0.0, min(lo - 0.05, 0.9)), 1.02)
    ax.set_xlim(0, end)
    ax.set_xlabel("simulated time (h)")
    ax.set_ylabel("health H(s)")
    ax.set_title(f"{record['scenario']}, seed {record['seed']} ({record['variant']}): health and incident milestones")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8, ncol=3, framealpha=0.9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def ttm_by_variant(records: list[dict[str, Any]], variants: list[str], path: Path) -> Path:
    """Time to mitigate per mitigated fault (minutes), per variant."""
    fig, ax = plt.subplots(figsize=(max(5.0, 1.6 * len(variants) + 2), 4.2), dpi=110)
    data = [np.asarray(_faults(records, v, "ttm_s")) / 60.0 for v in variants]
    rng = np.random.default_rng(0)  # jitter only
    for i, (v, d) in enumerate(zip(variants, data), start=1):
        total = sum(1 for r in records if r["variant"] == v and r.get("status") == "ok" for _ in r.get("faults", []))
        if len(d):
            ax.boxplot([d], positions=[i], widths=0.5, showfliers=False, medianprops={"color": "black"})
            ax.scatter(i + rng.uniform(-0.15, 0.15, len(d)), d, s=12, alpha=0.6, color=COLOURS[(i - 1) % len(COLOURS)])
        ax.annotate(f"{len(d)}/{total} mitigated", (i, 0), xytext=(0, -28), textcoords="offset points",
                    ha="center", fontsize=8, annotation_clip=False)
    ax.set_xticks(range(1, len(variants) + 1), variants)
    ax.set_xlim(0.4, len(variants) + 0.6)
    ax.set_ylabel("time to mitigate (min)")
    ax.set_title("Time to mitigate per fault, by variant")
    ax.grid(axis="y", alpha=0.3)
    if not any(len(d) for d in data):
        ax.text(0.5, 0.5, "no fault was mitigated", transform=ax.transAxes, ha="center")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def detection_delay(records: list[dict[str, Any]], variants: list[str], path: Path) -> Path:
    """Distribution of time to detect per fault (minutes), per variant."""
    fig, ax = plt.subplots(figsize=(8, 4.2), dpi=110)
    data = {v: np.asarray(_faults(records, v, "ttd_s")) / 60.0 for v in variants}
    allv = np.concatenate([d for d in data.values() if len(d)]) if any(len(d) for d in data.values()) else np.zeros(0)
    bins = np.histogram_bin_edges(allv, bins=min(30, max(5, len(allv) // 2))) if len(allv) else 10
    for i, v in enumerate(variants):
        d = data[v]
        total = sum(len(r.get("faults", [])) for r in records if r["variant"] == v and r.get("status") == "ok")
        missed = total - len(d)
        label = f"{v}: {len(d)} detected, {missed} missed" + (f", median {np.median(d):.1f} min" if len(d) else "")
        if len(d):
            ax.hist(d, bins=bins, histtype="stepfilled" if len(variants) == 1 else "step", lw=1.6, alpha=0.8,
                    color=COLOURS[i % len(COLOURS)], label=label)
        else:
            ax.plot([], [], color=COLOURS[i % len(COLOURS)], label=label)
    ax.set_xlabel("time to detect (min)")
    ax.set_ylabel("faults")
    ax.set_title("Detection delay per fault")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if not len(allv):
        ax.text(0.5, 0.5, "no fault was detected", transform=ax.transAxes, ha="center")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def all_figures(records: list[dict[str, Any]], variants: list[str], out: Path) -> list[str]:
    """Write every figure into `out`; returns their file names (relative to `out`)."""
    out = Path(out)
    names: list[str] = []
    for r in sorted((r for r in records if r.get("timeline") and r.get("status") == "ok"),
                    key=lambda r: r["index"]):
        name = f"timeline-{r['scenario']}.png"
        timeline(r, out / name)
        names.append(name)
    names.append(ttm_by_variant(records, variants, out / "ttm-by-variant.png").name)
    names.append(detection_delay(records, variants, out / "detection-delay.png").name)
    return names
