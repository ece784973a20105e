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


def _marks(ax, f: dict[str, Any], scale: float, seen: set[str]) -> None:
    for key, label, colour, style in MARKS:
        x = f.get(key)
        if x is None:
            continue
        ax.axvline(x / scale, color=colour, ls=style, lw=1.4, alpha=0.8, label=None if label in seen else label)
        seen.add(label)


def timeline(record: dict[str, Any], path: Path, max_zooms: int = 6) -> Path:
    """Health of one run with every fault's milestones: the whole run on top, and below, one
    panel per fault (the first `max_zooms`) zoomed on it, where the marks are minutes apart."""
    tl = record["timeline"]
    t = np.asarray(tl["t"])
    h = np.asarray(tl["health"])
    faults = record.get("faults", [])
    zooms = faults[:max_zooms]
    fig = plt.figure(figsize=(12, 4.0 + (2.6 if zooms else 0.0)), dpi=110)
    grid = fig.add_gridspec(2 if zooms else 1, max(1, len(zooms)), height_ratios=[1.3, 1.0] if zooms else [1.0])
    ax = fig.add_subplot(grid[0, :])
    ax.plot(t / 3600.0, h, color="black", lw=1.1, label="health H(s)", zorder=5)  # over the marks
    end = float(t[-1]) if len(t) else 3600.0
    seen: set[str] = set()
    for f in faults:
        stop = f.get("resolved_at") if f.get("resolved_at") is not None else end
        ax.axvspan(f["start"] / 3600.0, stop / 3600.0, color="tab:red", alpha=0.10, lw=0)
        _marks(ax, f, 3600.0, seen)
        ax.annotate(f["id"], (f["start"] / 3600.0, 1.0), xytext=(2, -2), textcoords="offset points", fontsize=8,
                    va="top", color="tab:red")
    lo = float(np.nanmin(h)) if len(h) else 0.0
    ax.set_ylim(max(0.0, lo - 0.1 * (1.0 - lo) - 0.005), 1.0 + 0.05 * (1.0 - lo) + 0.002)
    ax.set_xlim(0, end / 3600.0)
    ax.set_xlabel("simulated time (h)")
    ax.set_ylabel("health H(s)")
    n = len(faults)
    ax.set_title(f"{record['scenario']}, seed {record['seed']} ({record['variant']}): health, {n} fault(s) "
                 "(shaded while active)" + (f"; zoom on the first {len(zooms)}" if n > len(zooms) else ""))
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8, ncol=6, framealpha=0.9)
    for i, f in enumerate(zooms):
        z = fig.add_subplot(grid[1, i])
        last = max([f.get(k) or f["start"] for k, *_ in MARKS] + [f.get("resolved_at") or f["start"]])
        a, b = f["start"] - 300.0, last + 600.0
        sel = (t >= a) & (t <= b)
        z.plot((t[sel] - f["start"]) / 60.0, h[sel], color="black", lw=1.0, zorder=5)
        shifted = {k: (None if f.get(k) is None else f[k] - f["start"]) for k, *_ in MARKS}
        _marks(z, shifted, 60.0, seen)
        if sel.any():  # at least 0.01 of H tall, so flat health reads as flat
            lo_z, hi_z = float(h[sel].min()), float(h[sel].max())
            pad = max(0.0, 0.01 - (hi_z - lo_z)) / 2 + 0.1 * (hi_z - lo_z)
            z.set_ylim(lo_z - pad, min(hi_z + pad, 1.0 + pad))
        z.ticklabel_format(axis="y", useOffset=False)
        z.set_title(f"{f['id']} {f['type']}\non {f['target']}", fontsize=8)
        z.set_xlabel("min after fault start", fontsize=8)
        z.tick_params(labelsize=7)
        z.grid(alpha=0.3)
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
        ax.annotate(f"{len(d)}/{total} mitigated", (i, 0), xycoords=("data", "axes fraction"), xytext=(0, -28),
                    textcoords="offset points", ha="center", fontsize=8, annotation_clip=False)
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
    labels = []
    for v in variants:
        d = data[v]
        total = sum(len(r.get("faults", [])) for r in records if r["variant"] == v and r.get("status") == "ok")
        labels.append(f"{v}: {len(d)} detected, {total - len(d)} missed"
                      + (f", median {np.median(d):.1f} min" if len(d) else ""))
    colours = [COLOURS[i % len(COLOURS)] for i in range(len(variants))]
    if len(allv):
        ax.hist([data[v] for v in variants], bins=bins, color=colours, label=labels, histtype="bar", rwidth=0.9)
    else:
        for c, label in zip(colours, labels):
            ax.plot([], [], color=c, label=label)
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
