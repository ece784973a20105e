"""Scenarios for the page's tests: a small one whose fault comes early, and a big generated estate."""

from __future__ import annotations

from pathlib import Path

import yaml

from opstwin.scenarios.library import resolve

SMALL = """\
# A three-service shop whose API drifts out of its config 30 s in: the page's browser test.
name: viz-small
description: Three services, a config drift at 30 s.
seed: 5
duration: 30m
tick: 10s
topology:
  hosts:
    - {name: h1, cpu: 16, memory: 64GB}
    - {name: h2, cpu: 16, memory: 64GB}
  services:
    - {name: web, host: h1, entry: true, replicas: 3, capacity: 120, latency: 30ms, slo: 800ms, depends_on: [api]}
    - {name: api, host: h2, replicas: 3, capacity: 150, latency: 20ms, depends_on: [db]}
    - {name: db, host: h2, replicas: 1, capacity: 900, latency: 5ms}
load: {rps: 100}
agents: {warmup: 10s}
faults:
  scheduled:
    - {type: config_drift, target: api, at: 30s, error_rate: 0.5, latency_factor: 2}
"""


def small_scenario(folder: Path) -> Path:
    path = folder / "viz-small.yaml"
    path.write_text(SMALL)
    return path


def big_scenario(folder: Path, services: int = 320) -> Path:
    """The storm scenario on a generated estate of `services` services."""
    data = yaml.safe_load(resolve("storm").read_text())
    data["topology"]["generate"] = {"services": services, "entries": 6, "layers": 6, "max_deps": 3}
    data["name"] = f"storm-{services}"
    path = folder / f"storm-{services}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path
