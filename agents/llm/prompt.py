"""One incident as a prompt: its evidence with ids, the allowed candidates and fixes, and the answer schema.

A :class:`Case` is built from one localized group (the components it covers and their alerts) and
the topology an operator knows. Evidence ids (``e1``, ``e2``, ...) are numbered in a fixed order
(components sorted by name, then their symptoms, metrics, log templates with counts, deployment,
dependencies), so the same alerts always give the same prompt, byte for byte. Candidates are the group's alerting components
and the hosts and disks under its services, listed by name (never in the rules reasoner's order, so
the model is not shown its answer); the prompt gives the runbook's faults and fixes once per kind of
component, and per candidate only what the topology or earlier attempts rule out (a short prompt: a
small model on a CPU reads ~50 tokens a second).

The answer is JSON fitting :data:`ANSWER_SCHEMA`: ranked root causes with a confidence, the evidence ids
relied on, one fix, a short explanation. The structured-output format passed to the server
(:meth:`Case.schema`) is that schema narrowed to the case: each root cause a candidate with a fault of
its kind, the fix an action allowed for its component, the evidence ids the case's. Servers enforce
schemas more or less (llama.cpp ignores numeric bounds), so every answer is checked all the same.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from opstwin.agents.messages import Alert
from opstwin.agents.runbook import RUNBOOK
from opstwin.twin.topology import Topology

FAULTS = tuple(h.fault for h in RUNBOOK)
ACTIONS = tuple(sorted({a for h in RUNBOOK for a, _ in h.fixes}))
MAX_CANDIDATES = 12  # a small model's context is small; the group's alerting components come first
MAX_NEIGHBOURS = 6  # dependencies / dependants listed per service
MAX_TEMPLATE_CHARS = 120  # a log template longer than this is cut (its words that matter come first)


class Cause(BaseModel):
    model_config = ConfigDict(extra="forbid")
    component: str = Field(max_length=100)
    fault: Literal[FAULTS]  # type: ignore[valid-type]
    confidence: float = Field(ge=0, le=1)


class Fix(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal[ACTIONS]  # type: ignore[valid-type]
    component: str = Field(max_length=100)


class Answer(BaseModel):
    """What the model must answer (validated with this model; its JSON schema is sent to the server)."""

    model_config = ConfigDict(extra="forbid")
    root_causes: list[Cause] = Field(min_length=1, max_length=3, description="most likely first")
    evidence: list[Annotated[str, Field(pattern=r"^e[0-9]{1,3}$")]] = Field(
        min_length=1, max_length=8, description="ids of the evidence relied on (e1, e2, ...)")
    fix: Fix = Field(description="one allowed fix for the top root cause")
    explanation: str = Field(max_length=160, description="one sentence for the incident log")


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with its ``$defs`` inlined and titles dropped: servers' grammar builders differ on refs."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return walk(dict(defs[node["$ref"].rsplit("/", 1)[-1]]))
            return {k: walk(v) for k, v in node.items() if k != "title"}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(schema)


ANSWER_SCHEMA: dict[str, Any] = _inline(Answer.model_json_schema())


@dataclass
class Case:
    """What the model is shown for one incident, and what its answer is checked against."""

    evidence: dict[str, str]  # id -> fact
    candidates: dict[str, dict[str, list[str]]]  # component -> fault -> allowed actions (in runbook order)
    kinds: dict[str, str]  # component -> service | host | disk
    tried: list[tuple[str, str]] = field(default_factory=list)  # (action, target) that did not help

    def schema(self) -> dict[str, Any]:
        """The answer schema for this case: each root cause a candidate with a fault of its kind, the fix a
        candidate with an action allowed for it, evidence among the ids. (Which fix suits which fault, and
        that the fix is for the first root cause, a schema cannot say: the checks do.)"""
        schema = copy.deepcopy(ANSWER_SCHEMA)
        props = schema["properties"]
        cause, fix = props["root_causes"]["items"], props["fix"]
        props["root_causes"]["items"] = {"anyOf": [
            {**cause, "properties": {**cause["properties"], "component": {"type": "string", "const": comp},
                                     "fault": {"type": "string", "enum": list(faults)}}}
            for comp, faults in self.candidates.items()]}
        props["fix"] = {"anyOf": [
            {**fix, "properties": {**fix["properties"], "component": {"type": "string", "const": comp},
                                   "action": {"type": "string",
                                              "enum": list(dict.fromkeys(a for acts in faults.values() for a in acts))}}}
            for comp, faults in self.candidates.items()]}
        props["evidence"]["items"] = {"type": "string", "enum": list(self.evidence)}
        return schema

    def _limits(self, comp: str, faults: dict[str, list[str]]) -> str:
        """Where the topology or what was tried narrows the runbook for this component, say so."""
        notes = []
        for h in RUNBOOK:
            if h.kind != self.kinds[comp]:
                continue
            full = [a for a, _ in h.fixes]
            if h.fault not in faults:
                notes.append(f"{h.fault}: no fix left")
            elif faults[h.fault] != full:
                notes.append(f"{h.fault}: only {', '.join(faults[h.fault])}")
        return f" ({'; '.join(notes)})" if notes else ""

    def prompt(self) -> str:
        lines = [
            "You are an SRE diagnosing one incident in a cloud. Decide which component is the root cause "
            "and which fault it has, using only the evidence below; then pick one allowed fix.",
            "",
            "Evidence (id: fact):",
            *(f"{k}: {v}" for k, v in self.evidence.items()),
            "",
            "Faults and their fixes, by kind of component:",
        ]
        kinds = sorted(set(self.kinds.values()), key=["service", "host", "disk"].index)
        for kind in kinds:
            lines.append(f"- {kind}: " + "; ".join(f"{h.fault} -> {', '.join(a for a, _ in h.fixes)}"
                                                  for h in RUNBOOK if h.kind == kind))
        lines += ["", "Candidates (component [kind]):"]
        for comp, faults in self.candidates.items():
            lines.append(f"- {comp} [{self.kinds[comp]}]{self._limits(comp, faults)}")
        if self.tried:
            lines += ["", "Already tried without success (do not propose again): "
                      + ", ".join(f"{a} on {t}" for a, t in self.tried)]
        lines += [
            "",
            "Answer in JSON: root_causes (1 to 3, most likely first, each a candidate component, one of its "
            "faults, and a confidence from 0 to 1), evidence (the ids you relied on, e.g. e1), fix (an allowed "
            "action for the first root cause and that component), explanation (one short sentence).",
        ]
        return "\n".join(lines)


def _kind(topo: Topology, component: str) -> str | None:
    if topo.is_service(component):
        return "service"
    if component in topo.hosts:
        return "host"
    if component in topo.disks:
        return "disk"
    return None


def _values(values: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:g}" for k, v in sorted(values.items()))


def build_case(topo: Topology, covers: set[str], anomalies: dict[str, Alert], exclude: set[tuple[str, str]],
               allowed: Any) -> Case:
    """The case of one group. `allowed(component, fault) -> [actions]` gives the fixes the topology
    allows that are not excluded (the reasoner's own rule, shared with the rules back-end)."""
    evidence: dict[str, str] = {}

    def add(text: str) -> None:
        evidence[f"e{len(evidence) + 1}"] = text

    alerting = sorted(c for c in covers if c in anomalies)
    for comp in alerting:
        a = anomalies[comp]
        for s in a.symptoms:
            add(f"{comp} ({a.kind}) shows {s}")
        if a.values:
            add(f"{comp} metrics: {_values(a.values)} (severity {a.severity:g})")
        for text, count in sorted(a.logs.items(), key=lambda kv: (-kv[1], kv[0])):
            add(f"{comp} logged {count} lines like: {text[:MAX_TEMPLATE_CHARS]}")
        if a.deployed_ago is not None:
            add(f"{comp} was deployed {a.deployed_ago:g}s ago")
        if a.kind == "service" and topo.is_service(comp):
            deps = sorted(topo.dependencies(comp))[:MAX_NEIGHBOURS]
            if deps:
                add(f"{comp} calls {', '.join(d + (' (alerting)' if d in anomalies else '') for d in deps)}")
            callers = sorted(topo.dependents(comp))[:MAX_NEIGHBOURS]
            if callers:
                add(f"{comp} is called by {', '.join(callers)}")
            if a.host:
                add(f"{comp} runs on host {a.host}")

    names: list[str] = list(alerting)
    for comp in alerting:
        if topo.is_service(comp):
            spec = topo.service_spec(comp)
            for under in (anomalies[comp].host, spec.disk):
                if under and under not in names:
                    names.append(under)
    names = sorted(names[:MAX_CANDIDATES])
    candidates: dict[str, dict[str, list[str]]] = {}
    kinds: dict[str, str] = {}
    for comp in names:
        kind = _kind(topo, comp)
        if kind is None:
            continue
        faults = {h.fault: allowed(comp, h.fault) for h in RUNBOOK if h.kind == kind}
        faults = {f: acts for f, acts in faults.items() if acts}
        if faults:
            candidates[comp] = faults
            kinds[comp] = kind
    return Case(evidence, candidates, kinds, sorted(exclude))
