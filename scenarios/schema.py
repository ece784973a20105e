"""The scenario file: what a run is made of, validated before anything starts.

A scenario composes the twin's spec (topology, load, deployments) with the fault schedule
and the agent team, each defined by the package that owns it. Unknown keys anywhere are
errors. ``opstwin schema`` prints this model's JSON Schema for editors.

The ``faults:`` section (see :mod:`faults.spec`) has ``scheduled`` faults, one mapping per
fault (``type``, ``target``, ``at``, the type's own keys, optional ``duration``), and ``random``
ones (``rate_per_hour``, ``types``, optional ``targets``, ``window: {start, end}``), drawn from
the seed. A scenario without faults is valid: it measures false alarms. ``actions:`` overrides
control-plane actions' failure probability and duration, by action name.

Confounders (things that look like faults but are not) live beside them: ``load.surges`` and
``load.random_surges`` (legitimate flash crowds), ``random_deployments`` (routine benign
releases), a disk's ``growth`` (organic data growth); ``telemetry`` sets how noisy the
monitoring data is (see :class:`twin.spec.TelemetrySpec`).
"""

from __future__ import annotations

import math

from pydantic import Field

from opstwin.agents.spec import AgentsSpec
from opstwin.faults.spec import FaultsSpec
from opstwin.twin.spec import (ActionSettings, DeploymentSpec, LoadSpec, RandomDeploymentsSpec, Strict, TelemetrySpec,
                               TopologySpec)
from opstwin.twin.units import Duration


class Scenario(Strict):
    """One scenario file."""

    name: str = Field(min_length=1, max_length=80)
    description: str = ""
    seed: int = Field(0, ge=0, description="default seed; `opstwin run --seed` overrides it")
    duration: Duration = Field(gt=0, description="simulated time of a run, e.g. 6h")
    tick: Duration = Field(10.0, ge=0.1, le=3600, description="simulated time between telemetry frames")
    topology: TopologySpec
    load: LoadSpec = Field(default_factory=LoadSpec)
    deployments: list[DeploymentSpec] = Field(default_factory=list)
    random_deployments: list[RandomDeploymentsSpec] = Field(
        default_factory=list, description="routine benign deployments drawn from the seed (decoys)")
    telemetry: TelemetrySpec = Field(default_factory=TelemetrySpec,
                                     description="noise of the monitoring data (errors, latency, scrape gaps)")
    faults: FaultsSpec = Field(default_factory=FaultsSpec, description="scheduled and seeded random faults")
    agents: AgentsSpec = Field(default_factory=AgentsSpec, description="the agent team (defaults if absent)")
    actions: dict[str, ActionSettings] = Field(
        default_factory=dict, description="per control-plane action (by name): `fail` probability and `duration`, "
                                          "overriding the action's own (see `twin/control.py`)")

    @property
    def ticks(self) -> int:
        """Ticks a run takes: enough to cover the duration (as `Twin.run` counts them)."""
        return max(1, math.ceil(self.duration / self.tick - 1e-9))


def json_schema() -> dict:
    return Scenario.model_json_schema(mode="validation")
