"""Bidding metrics of one run: how well the Contract-Net marketplace allocated the work.

From the incident log and the specialists' true skill profiles (the experimenter's, never the
agents'):

- ``tasks``: calls for proposals the coordinator made (one per remediation step it auctioned);
  ``bids_per_task``: proposals / tasks; ``auction_messages_per_task``: cfp, propose, refuse,
  accept- and reject-proposal / tasks; ``messages_per_task``: every agent message / tasks.
- ``allocation_efficiency``: per awarded task whose action reported back, the winner's realised
  seconds (award to result: its queue, the approval and the action) over the best expected seconds
  among the specialists that bid (the action's nominal time / speed / success, as
  :class:`agents.policies.CentralPolicy` prices an idle specialist); mean over tasks. About 1 when
  the best bidder wins (below 1 when the work went better than its expectation); higher is worse.
- ``load_fairness``: Jain's index over the specialists' busy time (seconds their actions ran):
  ``(sum x)^2 / (n sum x^2)`` over every specialist of the team, 1 when all were equally busy, 1/n
  when one did everything.
- ``throughput_per_hour``: incidents the team resolved per simulated hour.
"""

from __future__ import annotations

from typing import Any

from opstwin.agents.policies import CentralPolicy, BidderState
from opstwin.agents.messages import Task

AUCTION = {"cfp", "propose", "refuse", "accept-proposal", "reject-proposal"}
BIDDING_METRICS = ("tasks", "bids_per_task", "auction_messages_per_task", "messages_per_task",
                   "allocation_efficiency", "load_fairness", "throughput_per_hour")


def jain(xs: list[float]) -> float | None:
    """Jain's fairness index of `xs` (None for no one; 1.0 when nobody worked)."""
    if not xs:
        return None
    total, squares = sum(xs), sum(x * x for x in xs)
    return round(total * total / (len(xs) * squares), 4) if squares > 0 else 1.0


def compute_bidding(events: list[dict[str, Any]], specialists: list[str],
                    profiles: dict[str, dict[str, tuple[float, float]]], duration: float) -> dict[str, Any]:
    """The metrics above (module docstring); `profiles`: true (speed, success) per category of the
    specialists that have one (the others are average: 1, 1)."""
    tasks: dict[str, dict[str, Any]] = {}  # task id -> body of its cfp, bidders, award time, winner
    messages = auction = bids = resolved = 0
    busy = {name: 0.0 for name in specialists}
    started: dict[str, tuple[str, float]] = {}
    for e in events:
        kind = e["kind"]
        if kind == "msg":
            messages += 1
            perf, body = e["perf"], e["body"]
            if perf in AUCTION:
                auction += 1
            if perf == "cfp":
                tasks.setdefault(body["task"], {"body": body, "bidders": [], "award": None, "winner": None,
                                                "done": None})
            elif perf == "propose":
                bids += 1
                if body["task"] in tasks:
                    tasks[body["task"]]["bidders"].append(e["from"])
            elif perf == "accept-proposal" and body["task"] in tasks:
                tasks[body["task"]].update(award=e["t"], winner=e["to"])
            elif perf in ("inform-done", "failure") and e["type"] == "action_result" and e["to"] == "coordinator":
                task = tasks.get(body["task"])
                if task and task["winner"] == e["from"] and task["done"] is None and body["status"] in (
                        "succeeded", "failed"):
                    task["done"] = e["t"]
        elif kind == "action_started" and e.get("by") in busy:
            started[e["action_id"]] = (e["by"], e["t"])
        elif kind in ("action_succeeded", "action_failed") and e["action_id"] in started:
            who, t0 = started.pop(e["action_id"])
            busy[who] += e["t"] - t0
        elif kind == "incident_closed" and e.get("status") == "resolved":
            resolved += 1
    ratios = []
    for task in tasks.values():
        if task["award"] is None or task["done"] is None or not task["bidders"]:
            continue
        t = Task.model_validate(task["body"])
        best = min(_expected(t, profiles.get(b)) for b in task["bidders"])
        ratios.append(max(task["done"] - task["award"], 0.0) / max(best, 1.0))
    n = len(tasks)
    per = lambda x: round(x / n, 3) if n else None  # noqa: E731
    return {
        "tasks": n,
        "bids_per_task": per(bids),
        "auction_messages_per_task": per(auction),
        "messages_per_task": per(messages),
        "allocation_efficiency": round(sum(ratios) / len(ratios), 4) if ratios else None,
        "load_fairness": jain(list(busy.values())),
        "throughput_per_hour": round(resolved / (duration / 3600.0), 3) if duration > 0 else None,
    }


def _expected(task: Task, profile: dict[str, tuple[float, float]] | None) -> float:
    """An idle specialist's true expected seconds for `task` (the central planner's price)."""
    idle = BidderState("", (), 0, 1, 0.0)
    return float(CentralPolicy(profile).bid(task, idle, None))
