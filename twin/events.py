"""The incident log's event schema: one registry of every event kind, its fields and who writes it.

Every line of ``incidents.jsonl`` is ``{"t": <sim seconds>, "kind": <name>, ...fields}``. The
:class:`~opstwin.twin.eventlog.EventLog` refuses an event whose kind is not registered here or
whose fields differ from the entry's (a typo in a writer fails its first test, not a metric);
metrics name the kinds they read through :func:`kinds`, so renaming one breaks them loudly.
Events written by agents carry ``agent`` (the writer's name). ``msg`` bodies are the message
models of ``opstwin.agents.messages`` (one per message ``type``).

It lives in ``twin`` because every layer writes to the log and ``twin`` is the one all may import.
``python -m opstwin.twin.events`` prints the schema as markdown (docs/events.md is that output).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EventKind:
    name: str
    writer: str  # who writes it (module or agent role)
    fields: tuple[str, ...]  # always present, beside t and kind
    optional: tuple[str, ...] = ()  # present in some events of this kind
    doc: str = ""


_AGENT = ("agent",)
_ACTION = ("action_id", "action", "target", "by")

EVENTS: dict[str, EventKind] = {k.name: k for k in [
    EventKind("run_started", "engine", ("scenario", "seed", "services", "hosts", "duration", "tick"),
              doc="First line of every log: what was run."),
    EventKind("run_finished", "engine", ("ticks",), doc="Last line of a run that reached its duration."),
    EventKind("run_aborted", "engine", ("ticks",), doc="Last line of a run stopped early (Ctrl-C, an error)."),
    EventKind("deployment_started", "twin (scenario deployments), faults (bad_deployment)",
              ("service", "version", "previous"), doc="A rollout of `version` begins."),
    EventKind("deployment_finished", "twin, faults", ("service", "version"), doc="The rollout is complete."),
    EventKind("fault_injected", "faults.injector",
              ("fault_id", "type", "category", "target", "target_kind", "fixes", "params"),
              doc="Ground truth: never shown to agents."),
    EventKind("fault_resolved", "faults.injector", ("fault_id", "type", "target", "by"),
              doc="`by` is the fixing action's id, `expired` or `operator`."),
    EventKind("fault_reopened", "faults.injector", ("fault_id", "type", "target", "by"),
              doc="The action that ended the fault was undone and the fault is back (a rolled-back "
                  "version redeployed); `by` is that action's id."),
    EventKind("action_started", "twin.control", (*_ACTION, "params", "eta"),
              doc="A control-plane action was accepted; `by` is the requester (agent name or `operator`)."),
    EventKind("action_succeeded", "twin.control", _ACTION, doc="The action took effect."),
    EventKind("action_failed", "twin.control", _ACTION, doc="The action failed (randomly, or its check refused)."),
    EventKind("action_undone", "twin.control", _ACTION, doc="A succeeded action was reverted."),
    EventKind("msg", "clock (agents.bus)", ("type", "perf", "from", "to", "conv", "tick", "round", "seq", "body"),
              doc="An agent message, logged when sent; `type` names its body model, `perf` its FIPA performative."),
    EventKind("msg_undeliverable", "clock (agents.bus)",
              ("type", "perf", "from", "to", "conv", "tick", "round", "seq", "body"),
              doc="A message to an agent that is not on the team."),
    EventKind("agent_lost", "XMPP transport", ("agent", "tick", "round"), ("reason",),
              doc="An agent's process exited or it missed its round deadline. The team carries on without a "
                  "specialist or monitor; without any other agent the run ends here (run_aborted)."),
    EventKind("request_refused", "control", (*_AGENT, "task", "action", "target", "requester", "reason"),
              doc="An action request without a valid approval from the guard: not run."),
    EventKind("llm_reasoner", "engine", ("backend", "model", "digest", "temperature", "seed", "num_ctx",
                                         "latency", "fallback", "status"),
              doc="The diagnoser reasons with a local model: which, how it is asked, and whether the server "
                  "answered at start (`status`: ok, or unavailable and using rules). Only with an LLM reasoner; where the "
                  "server is (its host) is in summary.json, not here, so the log does not depend on it."),
    EventKind("llm_call", "diagnoser", (*_AGENT, "call", "model", "prompt", "answer", "prompt_tokens",
                                        "answer_tokens", "latency_s", "check"),
              doc="One question to the model: the prompt, its answer (null if the call failed), the tokens, the "
                  "sim seconds charged for it, and the checks' verdict (`passed`, `rejected: why`, `error: why`)."),
    EventKind("llm_fallback", "diagnoser", (*_AGENT, "call", "reason", "root"),
              doc="An incident diagnosed by the rules reasoner instead of the model (`call` null when none was "
                  "made: server down at start, call budget spent); `root` is the rules' root."),
    EventKind("incident_opened", "diagnoser", (*_AGENT, "incident", "root", "covers")),
    EventKind("incident_resolved", "diagnoser", (*_AGENT, "incident", "root")),
    EventKind("incident_recurred", "diagnoser", (*_AGENT, "incident", "root"),
              doc="An escalated incident's fault came back (same root, same diagnosis): it stays the human's."),
    EventKind("incident_superseded", "diagnoser", (*_AGENT, "incident", "by"),
              doc="A cascade seen first was folded into its root's incident."),
    EventKind("incident_closed", "coordinator", (*_AGENT, "incident", "attempts", "status")),
    EventKind("fix_not_effective", "coordinator", (*_AGENT, "incident", "task")),
    EventKind("no_bids", "coordinator", (*_AGENT, "incident", "task")),
    EventKind("reauction", "coordinator", (*_AGENT, "incident", "task", "lost")),
    EventKind("escalation", "coordinator", (*_AGENT, "incident", "attempts", "reason"),
              doc="Handed to the human operator."),
    EventKind("approval", "guard", (*_AGENT, "task", "action", "target", "decision", "by"),
              doc="An action on the approval list was decided (`by`: human or default)."),
    EventKind("tnr_ok", "guard", (*_AGENT, "task", "action", "target", "before", "after", "own_before", "own_after",
                                  "scope"),
              doc="Transactional No-Regression: after the action settled, the SLI of its blast radius (`scope` "
                  "services, measured by the monitors from telemetry) did not drop beyond tolerance, or that of "
                  "its own services (`own_*`: the target, the services on a host or disk) did not."),
    EventKind("tnr_violation", "guard", (*_AGENT, "task", "action", "target", "action_id", "before", "after",
                                         "own_before", "own_after", "scope"),
              doc="Both dropped: the guard undoes the action."),
    EventKind("tnr_kept", "guard", (*_AGENT, "task", "action", "target", "action_id", "before", "after",
                                    "own_before", "own_after", "scope"),
              doc="A regression as for `tnr_violation`, but the action is kept: its undo would restore what "
                  "was diagnosed as the fault (a release, a config, a certificate). The incident moves on."),
    EventKind("tnr_resolved", "guard", (*_AGENT, "task", "action", "target", "incident"),
              doc="The action's incident resolved before it settled: it is not judged, since undoing it "
                  "would reopen the fault it fixed."),
]}


class EventSchemaError(ValueError):
    """An event that the registry does not describe."""


def check(event: dict) -> None:
    """Raise EventSchemaError unless `event` fits its registered kind."""
    kind = EVENTS.get(event.get("kind"))
    if kind is None:
        raise EventSchemaError(f"unknown event kind {event.get('kind')!r} (register it in opstwin.twin.events)")
    have = set(event) - {"t", "kind"}
    missing = set(kind.fields) - have
    extra = have - set(kind.fields) - set(kind.optional)
    if missing or extra:
        raise EventSchemaError(f"event {kind.name}: missing {sorted(missing)}, unexpected {sorted(extra)} "
                               f"(see opstwin.twin.events)")


def kinds(*names: str) -> tuple[str, ...]:
    """`names`, after checking each is a registered kind (for readers of the log)."""
    unknown = [n for n in names if n not in EVENTS]
    if unknown:
        raise EventSchemaError(f"not event kinds: {unknown}")
    return names


def markdown() -> str:
    """The schema as a markdown page."""
    lines = ["# Incident-log events", "",
             "Generated from `twin/events.py` (`python -m opstwin.twin.events`). Every line of `incidents.jsonl` is",
             "`{\"t\": <sim seconds>, \"kind\": <kind>, ...fields}`; optional fields are in brackets.", "",
             "| kind | written by | fields | meaning |", "| --- | --- | --- | --- |"]
    for k in EVENTS.values():
        fields = ", ".join([*(f"`{f}`" for f in k.fields), *(f"[`{f}`]" for f in k.optional)])
        lines.append(f"| `{k.name}` | {k.writer} | {fields} | {k.doc} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
