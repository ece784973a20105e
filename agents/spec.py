"""The agent team as written in a scenario's `agents:` section; every field has a default,
so a scenario without the section runs the default team.

    agents:
      warmup: 30m                      # monitors learn baselines; no alerts before
      monitor: {detector: isolation_forest, shards: 1, persistence: 2, logs: true}
      diagnoser: {reasoner: rules, gather: 40s}   # or a local LLM, checked (agents/llm/):
      #   reasoner: {backend: ollama, model: qwen2.5:3b, host: http://127.0.0.1:11434, temperature: 0,
      #              seed: 0, timeout: 60s, num_ctx: 4096, fallback: rules, latency: 5s}
      coordinator: {verify: 4m}
      specialists:                     # default: compute, storage, deploy, network
        - {name: storage, skills: [storage], policy: heuristic}
        - {name: net-2, skills: {network: {speed: 0.6, success: 0.8}}, off_shift: [{start: 2h, end: 4h}]}
      guard: {settle: 2m, tolerance: 0.02, max_attempts: 3,
              approval: {actions: [failover], default: approve}}
      baseline: shotgun                # instead of the team: shotgun or random (agents/baselines.py)
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from opstwin.agents.detectors import DETECTORS
from opstwin.twin.spec import Name, Strict
from opstwin.twin.units import Duration

CATEGORIES = ("compute", "storage", "deploy", "network")


class MonitorSpec(Strict):
    detector: Literal[DETECTORS] = "isolation_forest"  # type: ignore[valid-type]
    shards: int = Field(1, ge=1, le=64, description="monitors, each watching a slice of the services")
    persistence: int = Field(2, ge=1, le=60, description="flagged ticks (of the last `window`) before an alert")
    window: int | None = Field(None, ge=1, le=120, description="ticks over which flagged ones are counted "
                                                                 "(k of n; default persistence: consecutive ticks)")
    clear_after: int = Field(6, ge=1, le=360, description="normal ticks before an alert is cleared")
    logs: bool = Field(True, description="read log lines (false: an ablation with no log evidence at all)")

    @model_validator(mode="after")
    def _window_holds_persistence(self) -> "MonitorSpec":
        if self.window is not None and self.window < self.persistence:
            raise ValueError(f"window ({self.window}) must be at least persistence ({self.persistence})")
        return self


class ReasonerSpec(Strict):
    """The diagnoser's reasoning back-end. `rules` is deterministic; `ollama` and `openai` ask a local model
    for JSON, check the answer against the evidence and the allowed actions, and fall back to `rules` for an
    incident whose answer fails a check (agents/llm/)."""

    backend: Literal["rules", "ollama", "openai"] = "rules"
    model: str | None = Field(None, min_length=1, max_length=200, description="model name on the server")
    host: str | None = Field(None, min_length=1, max_length=300,
                             description="server URL (ollama: else OLLAMA_HOST; openai: the /v1 base URL, else "
                                         "OPENAI_BASE_URL)")
    temperature: float = Field(0.0, ge=0, le=2)
    seed: int = Field(0, ge=0, le=2**31 - 1, description="the model's sampling seed")
    timeout: Duration = Field(60.0, gt=0, le=3600, description="wall seconds one call may take")
    num_ctx: int = Field(4096, ge=512, le=262144, description="context size (tokens)")
    max_tokens: int = Field(300, ge=16, le=8192, description="answer tokens at most")
    response_format: Literal["json_schema", "json_object"] = Field(
        "json_schema", description="openai: how the answer schema is passed (json_schema: the OpenAI API, vLLM, "
                                   "Ollama's /v1; json_object: llama.cpp's server, {type: json_object, schema})")
    fallback: Literal["rules"] | None = Field(
        None, description="rules: a server that is down or lacks the model at start is a warning, not an error")
    latency: Duration | Literal["measured"] = Field(
        5.0, description="simulated seconds charged per call: fixed (reproducible) or the measured wall time")
    max_calls: int | None = Field(None, ge=0, description="calls per run at most; later incidents use rules")
    max_calls_per_step: int = Field(4, ge=1, le=64,
                                    description="calls in one diagnoser round at most (bounds its round's wall time)")


def _reasoner(v: object) -> object:
    """`reasoner: rules` is short for `reasoner: {backend: rules}`."""
    return {"backend": v} if isinstance(v, str) else v


class DiagnoserSpec(Strict):
    reasoner: ReasonerSpec = Field(default_factory=ReasonerSpec,
                                   description="reasoning back-end: rules, or {backend: ollama|openai, model: ...}")
    gather: Duration = Field(40.0, ge=0, description="wait after a new alert for a cascade to show")

    @field_validator("reasoner", mode="before")
    @classmethod
    def _short(cls, v: object) -> object:
        return _reasoner(v)

    @model_validator(mode="after")
    def _model_named(self) -> "DiagnoserSpec":
        r = self.reasoner
        if r.backend != "rules" and not r.model:
            raise ValueError(f"reasoner backend {r.backend} needs a model (e.g. model: qwen2.5:3b)")
        return self


class CoordinatorSpec(Strict):
    verify: Duration = Field(240.0, gt=0, description="time after an action for its incident to clear")


Category = Literal[CATEGORIES]  # type: ignore[valid-type]


class SkillProfile(Strict):
    """How good a specialist truly is at one category of work: the twin applies it (an action takes
    its duration / `speed`; it succeeds with `success` x the action's own odds). The specialist never
    sees these figures, only its own outcomes; the `central` planner (an oracle) does."""

    speed: float = Field(1.0, gt=0.05, le=20, description="work rate: 2 halves an action's duration")
    success: float = Field(1.0, gt=0, le=1, description="multiplies the action's own chance of success")


class ShiftGap(Strict):
    """A time the specialist is off shift: it refuses every call for proposals (queued work still runs)."""

    start: Duration = Field(ge=0)
    end: Duration = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> "ShiftGap":
        if self.end <= self.start:
            raise ValueError(f"end ({self.end:g}s) must come after start ({self.start:g}s)")
        return self


class SpecialistSpec(Strict):
    name: Name
    skills: list[Category] | dict[Category, SkillProfile] = Field(
        min_length=1, description="categories it takes calls for; a mapping also gives its true speed and success "
                                  "per category (then work outside them runs at OUTSIDE_SKILLS in twin/control.py)")
    policy: str = Field("heuristic", description="random, heuristic, record (prices itself from its own record), "
                                                 "central (an oracle planner), or a path to a policy .zip trained "
                                                 "by `opstwin train`")
    max_queue: int = Field(3, ge=1, le=100)
    off_shift: list[ShiftGap] = Field(default_factory=list, description="times it takes no new work")
    crash_at: Duration | None = Field(None, gt=0, description="when its process dies, not to return: the "
                                                             "transport declares it lost at the first tick "
                                                             "from then and the coordinator re-auctions its work")
    history: int = Field(0, ge=0, le=1000, description="results of past actions its record starts with, drawn "
                                                       "(seeded) from its true figures before the run; only "
                                                       "`record` and trained policies read the record")

    @property
    def categories(self) -> tuple[str, ...]:
        return tuple(self.skills)

    def profiles(self) -> dict[str, tuple[float, float]] | None:
        """category -> (speed, success) when the scenario declares them (None: an average specialist)."""
        if isinstance(self.skills, dict):
            return {c: (p.speed, p.success) for c, p in self.skills.items()}
        return None


def _default_specialists() -> list[SpecialistSpec]:
    return [SpecialistSpec(name=c, skills=[c]) for c in CATEGORIES]


class ApprovalSpec(Strict):
    actions: list[str] = Field(default_factory=list, description="actions that need a human decision")
    default: Literal["approve", "deny", "escalate"] = Field("approve", description="decision when unattended")
    human: str | None = Field(None, description="XMPP JID of the human operator")


class GuardSpec(Strict):
    settle: Duration = Field(120.0, gt=0, description="time after an action before the SLI of its blast radius is measured again")
    tolerance: float = Field(0.02, ge=0, le=1, description="the blast radius' SLI (share of its services' objectives met) may drop this much before an action is undone")
    max_attempts: int = Field(3, ge=1, le=20, description="failed attempts before an incident is escalated")
    approval: ApprovalSpec = Field(default_factory=ApprovalSpec)


class AgentsSpec(Strict):
    warmup: Duration = Field(1800.0, gt=0)
    monitor: MonitorSpec = Field(default_factory=MonitorSpec)
    diagnoser: DiagnoserSpec = Field(default_factory=DiagnoserSpec)
    coordinator: CoordinatorSpec = Field(default_factory=CoordinatorSpec)
    specialists: list[SpecialistSpec] = Field(default_factory=_default_specialists, min_length=1)
    guard: GuardSpec = Field(default_factory=GuardSpec)
    baseline: Literal["shotgun", "random"] | None = Field(
        None, description="replace the team by a standing baseline that acts without diagnosing (reports compare)")
