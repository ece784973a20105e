"""A tiny scenario for the eval tests: 3 services, 90 simulated minutes, one fault at 50m."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from click.testing import CliRunner

from opstwin.cli.main import main

TINY = """\
name: tiny
duration: 90m
tick: 10s
topology:
  hosts:
    - {name: h1, cpu: 16, disks: [{name: d1, size: 100GB, used: 10GB}]}
    - {name: h2, cpu: 16, disks: [{name: d2, size: 100GB, used: 10GB}]}
  services:
    - {name: web, host: h1, entry: true, replicas: 2, capacity: 100, latency: 20ms, slo: 500ms, disk: d1,
       depends_on: [api]}
    - {name: api, host: h2, replicas: 2, capacity: 200, latency: 10ms, disk: d2, depends_on: [db]}
    - {name: db, host: h2, replicas: 1, capacity: 500, latency: 5ms, disk: d2}
load:
  rps: 60
  noise: 0.03
faults:
  scheduled:
    - {type: connection_pool_exhaustion, target: api, at: 50m, error_rate: 0.6, wait: 2s, ramp: 5m}
agents:
  warmup: 30m
"""

SLOW = "slow=agents.monitor.persistence=60"  # alerts 10 minutes late: detection and mitigation times regress
VOLATILE = ("wall_seconds", "speedup", "out", "traceback")


def write_tiny(folder: Path, name: str = "tiny") -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(TINY.replace("name: tiny", f"name: {name}"))
    return path


def opstwin(folder: Path, *args):
    with contextlib.chdir(folder):
        return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def stable_runs(results_json: Path) -> list[dict]:
    """The runs of a results.json without what depends on the machine or the output folder."""
    runs = json.loads(results_json.read_text())["runs"]
    return [{k: v for k, v in r.items() if k not in VOLATILE} for r in runs]
