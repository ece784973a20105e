"""Metrics of one run, from its incident log and the injected faults' ground truth.

Definitions (also in the README):

- A fault's *blast radius*: its component, the services placed on it (host, disk; both hosts of
  a partition), and every service that calls those, directly or not (for a traffic spike, also
  every service they call: the surge flows downstream).
- An *alert episode* starts when a component alerts while it was not alerting, and ends when
  its alert is cleared. An episode is *true* when it starts while a fault whose blast radius
  holds the component is active (from its start to GRACE after it ended), else *false*.
- A fault is *detected* when a true episode on its blast radius starts while it is active;
  time to detect (TTD) is from the fault's start to that episode.
  Precision = true episodes / episodes; recall = detected faults / injected faults.
- Root cause: the first diagnosis made while a fault is active whose top candidate lies in its
  blast radius is the fault's diagnosis. AC@1: its top candidate is the fault's component;
  AC@3: the component is among its first three candidates. Undiagnosed faults count as misses.
  ``rca_type_ac1`` / ``rca_type_ac3``: the same, but a candidate counts only when it names the
  fault's component *and* its type (the hypothesis: memory_leak, bad_deployment, ...).
- Fixed: the fault ended through a fixing action of the team (not by expiring or by an
  operator). Mitigated: fixed within RESPONSE_WINDOW (30 minutes) of its detection (of its start
  when it was never detected): past that, an on-call human would have taken the incident over, as
  AIOpsLab-style benchmarks bound an agent's steps. Mitigation success rate = mitigated / injected;
  ``fixed_late`` = faults fixed after the window. Time to mitigate (TTM) = start to the fixing
  action's completion; MTTR = start to the first tick at or after it when health is back within
  0.02 of its value just before the fault (both over every fixed fault, late ones included).
- TNR undos: actions the guard undid because health regressed; ``tnr_undos_unjustified``: those
  that were a right fix of a fault active when they started (by its ground truth) or that had
  ended one; escalations: incidents handed to a human; actions and messages per incident: team actions and agent messages / incidents.
- Cost: ``actions_per_fault`` = team actions / injected faults (a run without faults: actions).
  An action is *harmful* when its target lies outside the root of every fault active when it
  started (the root: the fault's component, a partition's peer, and the services placed on a
  faulty host or disk), or when health at some tick from its start to one tick after it finished
  is more than 0.02 below health the tick before it started (an action can hurt while it runs: a
  reboot takes the host down). ``slo_minutes_lost``: the error budget burnt, sum over ticks of
  (1 - H) x tick length, in minutes (H is the share of user requests served within SLO and
  without error, so a full outage of one minute costs one minute).
- With an LLM reasoner only (:func:`llm_usage`): ``llm_calls`` (questions asked), ``llm_tokens_prompt`` /
  ``llm_tokens_answer`` (as the server counted them), ``llm_latency_s`` (sim seconds charged for the
  calls), ``llm_rejections`` (answers that failed a check), ``llm_errors`` (calls that failed or timed
  out), ``llm_fallbacks`` (incidents diagnosed by rules instead of the model).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from opstwin.twin.events import kinds
from opstwin.twin.topology import Topology

DOWNSTREAM = {"traffic_spike"}  # faults whose load flows on to the dependencies too
# the incident-log events these metrics read (docs/events.md); a renamed kind fails at import
READS = kinds("msg", "action_started", "action_succeeded", "action_failed", "incident_opened", "tnr_violation",
              "escalation")
HARM_DROP = 0.02  # health lost across an action that makes it harmful
GRACE = 600.0  # seconds after a fault ends during which its alerts still count as true
RESPONSE_WINDOW = 1800.0  # seconds from detection within which a fix counts as the team's mitigation
# per-fault times (sim seconds; None when it did not happen) reported beside the run's metrics
FAULT_FIELDS = ("detected_at", "ttd_s", "diagnosed_at", "action_at", "ttm_s", "recovered_at", "mttr_s")


def blast_radius(fault: dict[str, Any], topo: Topology) -> set[str]:
    kind, target = fault["target_kind"], fault["target"]
    hosts = [target] if kind == "host" else []
    peer = (fault.get("params") or {}).get("peer")
    if peer:
        hosts.append(peer)
    roots: set[str] = set()
    if kind == "service":
        roots.add(target)
    for h in hosts:
        if h in topo.hosts:
            roots |= set(topo.services_on_host(h))
    if kind == "disk" and target in topo.disks:
        roots |= set(topo.services_on_disk(target))
    radius = {target, *hosts, *roots}
    for r in roots:
        radius |= topo.ancestors(r)
        if fault["type"] in DOWNSTREAM:
            radius |= topo.descendants(r)
    return radius


def fault_root(fault: dict[str, Any], topo: Topology) -> set[str]:
    """The components an action may target to address `fault` (see the module docstring)."""
    kind, target = fault["target_kind"], fault["target"]
    root = {target}
    peer = (fault.get("params") or {}).get("peer")
    if peer:
        root.add(peer)
    for h in [h for h in (target if kind == "host" else None, peer) if h and h in topo.hosts]:
        root |= set(topo.services_on_host(h))
    if kind == "disk" and target in topo.disks:
        root |= set(topo.services_on_disk(target))
    return root


def _harmful(actions: list[dict[str, Any]], faults: list[dict[str, Any]], roots: dict[str, set[str]],
             h: np.ndarray, tick: float, end_of_run: float) -> int:
    """Team actions off every active fault's root, or across which health fell (module docstring)."""
    harmful = 0
    for a in actions:
        active = [f for f in faults if f["start"] <= a["t"] and (f.get("resolved_at") is None
                                                                 or f["resolved_at"] >= a["t"])]
        off_root = not any(a["target"] in roots[f["id"]] for f in active)
        k0 = int(a["t"] // tick) - 1
        k1 = int(np.ceil(a.get("finished", end_of_run) / tick))
        fell = 0 <= k0 and k1 < len(h) and h[k0 + 1:k1 + 1].min() < h[k0] - HARM_DROP  # while it ran, or after
        harmful += int(bool(off_root or fell))
    return harmful


def _active(fault: dict[str, Any], t: float, end_of_run: float) -> bool:
    end = fault.get("resolved_at")
    end = end_of_run if end is None else end
    return fault["start"] <= t <= end + GRACE


def compute(events: list[dict[str, Any]], faults: list[dict[str, Any]], topo: Topology, duration: float,
            health: list[float], tick: float, per_fault: bool = False):
    """The run's metrics; with `per_fault`, also one row per fault (FAULT_FIELDS and the AC@k and
    mitigated flags), in the order of `faults`, computed by the same definitions."""
    radii = {f["id"]: blast_radius(f, topo) for f in faults}
    alerting: set[str] = set()
    episodes: list[tuple[float, str]] = []
    diagnoses: list[tuple[float, list[str]]] = []
    messages = incidents = actions = escalations = 0
    undone: list[str] = []  # action ids the guard undid
    requester: dict[str, str] = {}
    team_actions: dict[str, dict[str, Any]] = {}  # action id -> start, target, finish
    for e in events:
        kind = e["kind"]
        if kind == "action_started":
            requester[e["action_id"]] = e.get("by", "")
            if e.get("by") != "operator":
                team_actions[e["action_id"]] = {"t": e["t"], "target": e["target"], "action": e.get("action", "")}
        elif kind in ("action_succeeded", "action_failed") and e["action_id"] in team_actions:
            team_actions[e["action_id"]]["finished"] = e["t"]
        if kind == "msg":
            messages += 1
            body = e["body"]
            if e["type"] == "alert":
                comp = body["component"]
                if body["cleared"]:
                    alerting.discard(comp)
                elif comp not in alerting:
                    alerting.add(comp)
                    episodes.append((e["t"], comp))
            elif e["type"] == "diagnosis" and body["candidates"]:
                diagnoses.append((e["t"], [c["component"] for c in body["candidates"]],
                                  [c.get("fault") for c in body["candidates"]]))
        elif kind == "incident_opened":
            incidents += 1
        elif kind == "action_started" and e.get("by") != "operator":
            actions += 1
        elif kind == "tnr_violation":
            undone.append(e["action_id"])
        elif kind == "escalation":
            escalations += 1

    true_eps = 0
    for t, comp in episodes:
        if any(comp in radii[f["id"]] and _active(f, t, duration) for f in faults):
            true_eps += 1
    false_eps = len(episodes) - true_eps

    detected, ttd, ac1, ac3, tac1, tac3, ttm, mttr = 0, [], 0, 0, 0, 0, [], []
    h = np.asarray(health) if health else np.ones(1)
    started_at = {e["action_id"]: e["t"] for e in events if e["kind"] == "action_started"}
    rows: list[dict[str, Any]] = []
    for f in faults:
        r = radii[f["id"]]
        row: dict[str, Any] = dict.fromkeys(FAULT_FIELDS)
        row.update(rca_ac1=False, rca_ac3=False, rca_type_ac1=False, rca_type_ac3=False, mitigated=False,
                   fixed_late=False)
        first = next((t for t, c in episodes if c in r and _active(f, t, duration)), None)
        if first is not None:
            detected += 1
            ttd.append(first - f["start"])
            row.update(detected_at=first, ttd_s=first - f["start"])
        diag = next((d for d in diagnoses if _active(f, d[0], duration) and d[1][0] in r), None)
        accepted = {f["target"], *([(f.get("params") or {}).get("peer")] if (f.get("params") or {}).get("peer") else [])}
        if diag:
            row["diagnosed_at"] = diag[0]
            row["diagnosis"] = [[c, t] for c, t in zip(diag[1], diag[2])]  # its candidates, best first (for RCA)
            row["rca_ac1"] = diag[1][0] in accepted
            row["rca_ac3"] = bool(accepted & set(diag[1][:3]))
            typed = [c in accepted and t == f["type"] for c, t in zip(diag[1], diag[2])]
            row["rca_type_ac1"], row["rca_type_ac3"] = typed[0], any(typed[:3])
            ac1 += row["rca_ac1"]
            ac3 += row["rca_ac3"]
            tac1 += row["rca_type_ac1"]
            tac3 += row["rca_type_ac3"]
        if _fixed(f, requester):
            in_time = f["resolved_at"] <= (first if first is not None else f["start"]) + RESPONSE_WINDOW
            row.update(mitigated=in_time, fixed_late=not in_time, ttm_s=f["resolved_at"] - f["start"],
                       action_at=started_at.get(f["resolved_by"]))
            ttm.append(row["ttm_s"])
            before = h[max(0, int(f["start"] // tick) - 1)]
            k0 = int(np.ceil(f["resolved_at"] / tick)) - 1
            back = np.flatnonzero(h[max(k0, 0):] >= before - 0.02)
            if len(back):
                recovered = (k0 + back[0] + 1) * tick
                mttr.append(recovered - f["start"])
                row.update(recovered_at=recovered, mttr_s=recovered - f["start"])
        rows.append(row)
    n = len(faults)
    precision = true_eps / len(episodes) if episodes else (1.0 if not faults else 0.0)
    recall = detected / n if n else 1.0
    mitigated = sum(r["mitigated"] for r in rows)
    mean = lambda xs: round(float(np.mean(xs)), 3) if xs else None  # noqa: E731
    metrics = {
        "faults_injected": n,
        "faults_resolved": sum(_fixed(f, requester) for f in faults),
        "detection_precision": round(precision, 4),
        "detection_recall": round(recall, 4),
        "detection_f1": round(2 * precision * recall / (precision + recall), 4) if precision + recall else 0.0,
        "alerts": len(episodes),
        "false_alerts": false_eps,
        "false_alerts_per_day": round(false_eps / (duration / 86400.0), 3),
        "ttd_mean_s": mean(ttd),
        "rca_ac1": round(ac1 / n, 4) if n else None,
        "rca_ac3": round(ac3 / n, 4) if n else None,
        "rca_type_ac1": round(tac1 / n, 4) if n else None,
        "rca_type_ac3": round(tac3 / n, 4) if n else None,
        "mitigation_success_rate": round(mitigated / n, 4) if n else None,
        "fixed_late": sum(r["fixed_late"] for r in rows),
        "ttm_mean_s": mean(ttm),
        "mttr_mean_s": mean(mttr),
        "slo_minutes_lost": round(float(np.sum(1.0 - h)) * tick / 60.0, 3) if health else 0.0,
        "actions_per_fault": round(actions / n, 3) if n else float(actions),
        "harmful_actions": _harmful(sorted(team_actions.values(), key=lambda a: a["t"]), faults,
                                    {f["id"]: fault_root(f, topo) for f in faults}, h, tick, duration),
        "tnr_undos": len(undone),
        "tnr_undos_unjustified": sum(_right_fix(team_actions.get(a), a, faults) for a in undone),
        "escalations": escalations,
        "incidents": incidents,
        "actions_per_incident": round(actions / incidents, 3) if incidents else 0.0,
        "messages_per_incident": round(messages / incidents, 3) if incidents else 0.0,
        "messages": messages,
    }
    return (metrics, rows) if per_fault else metrics


def _right_fix(action: dict[str, Any] | None, action_id: str, faults: list[dict[str, Any]]) -> bool:
    """Whether a team action was a right fix: it ended a fault, or it is in the ground-truth fixes of
    a fault active when it started."""
    if action is None:
        return False
    for f in faults:
        if f.get("resolved_by") == action_id:
            return True
        active = f["start"] <= action["t"] and (f.get("resolved_at") is None or f["resolved_at"] >= action["t"])
        if active and [action["action"], action["target"]] in [list(x) for x in f.get("fixes", [])]:
            return True
    return False


def _fixed(f: dict[str, Any], requester: dict[str, str]) -> bool:
    """Ended by a succeeded action that an agent (not an operator) asked for."""
    by = f.get("resolved_by")
    return f.get("resolved_at") is not None and requester.get(by or "", "operator") != "operator"


LLM_READS = kinds("llm_reasoner", "llm_call", "llm_fallback")


def llm_usage(events: list[dict[str, Any]]) -> dict[str, Any] | None:
    """What an LLM reasoner did in a run, from its incident log (None without one): calls, tokens of the
    prompts and answers, sim seconds charged, answers rejected by the checks, incidents left to rules; and
    the model as logged at start (name, digest, temperature, seed)."""
    start = next((e for e in events if e["kind"] == LLM_READS[0]), None)
    if start is None:
        return None
    calls = [e for e in events if e["kind"] == LLM_READS[1]]
    return {
        "llm_calls": len(calls),
        "llm_tokens_prompt": sum(e["prompt_tokens"] for e in calls),
        "llm_tokens_answer": sum(e["answer_tokens"] for e in calls),
        "llm_latency_s": round(sum(e["latency_s"] for e in calls), 3),
        "llm_rejections": sum(1 for e in calls if e["check"].startswith("rejected")),
        "llm_errors": sum(1 for e in calls if e["check"].startswith("error")),
        "llm_fallbacks": sum(1 for e in events if e["kind"] == LLM_READS[2]),
        "model": {k: start[k] for k in ("backend", "model", "digest", "temperature", "seed", "status")},
    }
