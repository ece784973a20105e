"""The checks an answer must pass before anything acts on it.

In order, the first failure being the reason given: the text parses as JSON and fits the answer
schema; every root cause is a candidate of the case, with a fault its kind can have there; every
cited evidence id exists; the fix is an allowed action for the first root cause's component and
fault (allowed by the runbook and the topology, and not already tried). A passing answer becomes
the diagnosis' ranked candidates; the guard still judges every action they lead to.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from pydantic import ValidationError

from opstwin.agents.llm.prompt import Answer, Case


@dataclass(frozen=True)
class Verdict:
    answer: Answer | None
    reason: str  # "" when the answer passed

    @property
    def ok(self) -> bool:
        return self.answer is not None and not self.reason


def _schema_error(exc: ValidationError) -> str:
    e = exc.errors()[0]
    where = ".".join(str(p) for p in e["loc"]) or "answer"
    return f"does not fit the schema: {where}: {e['msg']}"


def check(text: str, case: Case) -> Verdict:
    """The answer `text` against `case` (see the module docstring)."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, TypeError) as exc:
        snippet = (text or "")[:40].replace("\n", " ")
        return Verdict(None, f"not JSON ({exc.msg if hasattr(exc, 'msg') else exc}): {snippet!r}")
    try:
        answer = Answer.model_validate(data)
    except ValidationError as exc:
        return Verdict(None, _schema_error(exc))
    for cause in answer.root_causes:
        faults = case.candidates.get(cause.component)
        if faults is None:
            return Verdict(answer, f"root cause {cause.component!r} is not a candidate")
        if cause.fault not in faults:
            return Verdict(answer, f"root cause {cause.component} cannot have fault {cause.fault} "
                                   f"(a {case.kinds[cause.component]}: {', '.join(faults)})")
    unknown = [e for e in answer.evidence if e not in case.evidence]
    if unknown:
        return Verdict(answer, f"evidence id {unknown[0]!r} does not exist")
    top = answer.root_causes[0]
    allowed = case.candidates[top.component][top.fault]
    if answer.fix.component != top.component or answer.fix.action not in allowed:
        return Verdict(answer, f"fix {answer.fix.action} on {answer.fix.component} is not allowed for "
                               f"{top.component} {top.fault} (allowed: {', '.join(allowed)})")
    return Verdict(answer, "")
