"""The LLM reasoner: a local model names the root cause and the fix; the answer is checked; rules back it up.

The grouping of alerts into incidents is structural (a disk with its services, a host, a connected
part of the dependency graph) and stays the rules reasoner's. For each group the model is asked
which component is the root cause, with which fault, and which allowed fix to try
(:mod:`~opstwin.agents.llm.prompt`); its answer must pass :func:`~opstwin.agents.llm.check.check`
before it becomes the diagnosis. An answer that fails, a call that errs or times out, a server that
was down at start (``fallback: rules``) or a spent call budget gives that group the rules
reasoner's diagnosis instead, and says why in the incident log.

Accounting: each call is an ``llm_call`` event (prompt, answer, tokens, the sim seconds charged,
the check's verdict), each use of rules instead an ``llm_fallback``. The diagnoser takes them with
:meth:`LlmReasoner.take`, logs them, and holds the diagnosis back for the charged seconds of sim
time: a fixed number per call by default, so a deterministic server gives a reproducible run;
``latency: measured`` charges the wall time the call took (rounded to 0.1 s; not reproducible).
Calls block, so a transport with an event loop runs the diagnoser's step off it (:attr:`blocking`).
"""

from __future__ import annotations

import logging
from typing import Any

from opstwin.agents.llm.backends import Backend, BackendError, make_backend
from opstwin.agents.llm.check import check
from opstwin.agents.llm.prompt import Answer, Case, build_case
from opstwin.agents.messages import Alert, Candidate
from opstwin.agents.reasoners import RootGroup, RulesReasoner, possible
from opstwin.agents.runbook import BY_FAULT
from opstwin.agents.spec import ReasonerSpec
from opstwin.twin.topology import Topology

log = logging.getLogger("opstwin.llm")


class ReasonerUnavailable(ValueError):
    """The model server is down or lacks the model at start, and the scenario gives no fallback (one line)."""


class LlmReasoner:
    blocking = True  # its calls wait on a server: run the step off an event loop

    def __init__(self, topo: Topology, spec: ReasonerSpec, backend: Backend | None = None) -> None:
        self.topo = topo
        self.spec = spec
        self.rules = RulesReasoner(topo)
        self.backend = backend if backend is not None else make_backend(spec)
        self.name = f"{spec.backend}:{spec.model}"
        self.digest: str | None = None
        self.status = "not checked"
        self.available = True
        self.calls = 0
        self.step_calls = 0
        self.wall_seconds = 0.0  # measured, for the summary; never decides anything
        self._events: list[tuple[str, dict[str, Any]]] = []
        self._charged = 0.0

    # --------------------------------------------------------------- start
    def start(self) -> "LlmReasoner":
        """Check that the server answers and has the model; without it, exit (ReasonerUnavailable) unless
        ``fallback: rules``, then every incident uses rules and the start event says why."""
        try:
            self.digest = self.backend.probe()
            self.status = "ok"
        except BackendError as exc:
            if self.spec.fallback != "rules":
                raise ReasonerUnavailable(f"diagnoser reasoner: {exc}") from None
            self.available = False
            self.status = f"unavailable, using rules: {exc}"
            log.warning("diagnoser reasoner: %s; falling back to rules (fallback: rules)", exc)
        return self

    def describe(self) -> dict[str, Any]:
        """The ``llm_reasoner`` event's fields: what answers, and how it is asked."""
        s = self.spec
        return {"backend": s.backend, "model": s.model, "digest": self.digest,
                "temperature": s.temperature, "seed": s.seed, "num_ctx": s.num_ctx, "latency": s.latency,
                "fallback": s.fallback, "status": self.status}

    # ---------------------------------------------------------- accounting
    def begin_step(self) -> None:
        """A new diagnoser round: its own call budget (bounds the round's wall time)."""
        self.step_calls = 0

    def take(self) -> tuple[list[tuple[str, dict[str, Any]]], float]:
        """The events since the last take and the sim seconds they cost."""
        events, seconds = self._events, self._charged
        self._events, self._charged = [], 0.0
        return events, seconds

    # ------------------------------------------------------------ localize
    def localize(self, anomalies: dict[str, Alert], exclude: set[tuple[str, str]] = frozenset()) -> list[RootGroup]:
        return [self._ask(g, anomalies, set(exclude)) for g in self.rules.localize(anomalies, exclude)]

    def _allowed(self, exclude: set[tuple[str, str]]):
        def allowed(component: str, fault: str) -> list[str]:
            return [a for a, _ in BY_FAULT[fault].fixes
                    if (a, component) not in exclude and possible(self.topo, a, component)]
        return allowed

    def _fallback(self, group: RootGroup, call: int | None, reason: str) -> RootGroup:
        self._events.append(("llm_fallback", {"call": call, "reason": reason, "root": group.candidates[0].component}))
        group.reasoner = "rules"
        return group

    def _ask(self, group: RootGroup, anomalies: dict[str, Alert], exclude: set[tuple[str, str]]) -> RootGroup:
        if not self.available:
            return self._fallback(group, None, "the model server was unavailable at start")
        if self.spec.max_calls is not None and self.calls >= self.spec.max_calls:
            return self._fallback(group, None, f"call budget of the run spent ({self.spec.max_calls})")
        if self.step_calls >= self.spec.max_calls_per_step:
            return self._fallback(group, None, f"call budget of the round spent ({self.spec.max_calls_per_step})")
        case = build_case(self.topo, group.covers, anomalies, exclude, self._allowed(exclude))
        if not case.candidates:
            return self._fallback(group, None, "no candidate with an allowed fix")
        self.calls += 1
        self.step_calls += 1
        prompt = case.prompt()
        fixed = self.spec.latency != "measured"
        try:
            reply = self.backend.chat(prompt, case.schema())
        except BackendError as exc:
            self._charge(self.spec.timeout if not fixed else float(self.spec.latency), call=self.calls, prompt=prompt,
                         answer=None, prompt_tokens=0, answer_tokens=0, check=f"error: {exc}")
            return self._fallback(group, self.calls, f"call failed: {exc}")
        self.wall_seconds += reply.wall_seconds
        verdict = check(reply.text, case)
        seconds = float(self.spec.latency) if fixed else round(reply.wall_seconds, 1)
        self._charge(seconds, call=self.calls, prompt=prompt, answer=reply.text, prompt_tokens=reply.prompt_tokens,
                     answer_tokens=reply.answer_tokens, check="passed" if verdict.ok else f"rejected: {verdict.reason}")
        if not verdict.ok:
            return self._fallback(group, self.calls, f"rejected: {verdict.reason}")
        return self._group(verdict.answer, case, group)

    def _charge(self, seconds: float, **fields: Any) -> None:
        self._charged += seconds
        self._events.append(("llm_call", {**fields, "model": self.spec.model, "latency_s": seconds}))

    def _group(self, answer: Answer, case: Case, rules_group: RootGroup) -> RootGroup:
        """The checked answer as ranked candidates: the proposed fix first, then the fault's other fixes."""
        cands: list[Candidate] = []
        seen: set[tuple[str, str]] = set()
        for i, cause in enumerate(answer.root_causes):
            if (cause.component, cause.fault) in seen:
                continue
            seen.add((cause.component, cause.fault))
            actions = case.candidates[cause.component][cause.fault]
            if i == 0:
                actions = [answer.fix.action, *(a for a in actions if a != answer.fix.action)]
            params = dict(BY_FAULT[cause.fault].fixes)
            cands.append(Candidate(component=cause.component, kind=case.kinds[cause.component], fault=cause.fault,
                                   confidence=round(cause.confidence, 4),
                                   actions=[(a, cause.component, dict(params[a])) for a in actions]))
        covers = set(rules_group.covers) | {c.component for c in cands}
        evidence = [f"{e}: {case.evidence[e]}" for e in dict.fromkeys(answer.evidence)]
        return RootGroup(cands, covers, evidence, reasoner=self.name)


def preflight(specs: list[ReasonerSpec]) -> list[str]:
    """Before anything runs or is written: every LLM reasoner's server answers and has its model. Raises
    ReasonerUnavailable (one line naming host and model) unless `fallback: rules`; returns the warnings."""
    warnings = []
    seen: set[str] = set()
    for spec in specs:
        key = spec.model_dump_json()
        if spec.backend == "rules" or key in seen:
            continue
        seen.add(key)
        try:
            make_backend(spec).probe()
        except BackendError as exc:
            if spec.fallback != "rules":
                raise ReasonerUnavailable(f"diagnoser reasoner: {exc}") from None
            warnings.append(f"diagnoser reasoner: {exc}; falling back to rules (fallback: rules)")
    return warnings
