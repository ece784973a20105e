"""The injector: puts a scenario's faults into a running twin and keeps their ground truth.

At construction it draws the scheduled faults' seeded times and targets (``jitter``,
``targets``; entry i from ``generator(seed, "faults", "scheduled[i]")``) and the random faults (a Poisson process in each window, type and
target uniform over the allowed ones; entry k of ``random`` draws from
``twin.rng.generator(seed, "faults", "random[k]")``), merges
them with the scheduled ones by time, and starts one SimPy process that injects each at
its time. Fault ids are ``f1, f2, ...`` in injection order.

Each injection is logged as ``fault_injected`` (id, type, category, target, target_kind,
fixes, params); each end as ``fault_resolved`` (``by`` = the fixing action's id, or
``"expired"``). The injector hears every finished action through
``ControlPlane.listeners``: a succeeded action that is one of an active fault's fixes
ends it; any other action leaves it in place. When the fixing action is undone and the fault
is back (:meth:`Fault.back`: a rolled-back version redeployed) it is active again, logged as
``fault_reopened``, until another fix ends it. After every tick it updates the active
faults (ramps, state-dependent symptoms) through ``Twin.tick_listeners``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opstwin.faults.behaviours import Fault
from opstwin.faults.catalog import CATALOG
from opstwin.faults.spec import FaultBase, FaultsSpec, RandomFaultSpec, parse_fault
from opstwin.faults.targets import Names
from opstwin.twin.rng import generator

if TYPE_CHECKING:
    from opstwin.twin.control import ControlPlane, Ticket
    from opstwin.twin.model import Twin
    from opstwin.twin.telemetry import Frame


class Injector:
    """Injects `spec`'s faults into `twin` (see the module docstring)."""

    def __init__(self, twin: Twin, control: ControlPlane | None = None, spec: FaultsSpec | None = None, *,
                 seed: int | None = None, duration: float | None = None) -> None:
        self.twin, self.control = twin, control
        self.spec = spec or FaultsSpec()
        self.seed = twin.seed if seed is None else seed
        self.duration = duration
        self.faults: list[Fault] = []
        order = [(f.at, k, f) for k, f in enumerate(self.draw_scheduled(self.spec.scheduled))]
        drawn = self.draw_random(self.spec.random)
        order += [(f.at, len(order) + k, f) for k, f in enumerate(drawn)]
        self.plan: list[FaultBase] = [f for _, _, f in sorted(order, key=lambda x: x[:2])]
        if control is not None:
            control.listeners.append(self._on_action)
        twin.tick_listeners.append(self._on_tick)
        if self.plan:
            twin.env.process(self._schedule())

    # ---------------------------------------------------------- planning
    def draw_scheduled(self, specs: list[FaultBase]) -> list[FaultBase]:
        """Scheduled faults with their seeded time and target drawn (entry i: stream ``faults/scheduled[i]``);
        an entry without `jitter` or `targets` is used as written."""
        return [f.drawn(generator(self.seed, "faults", f"scheduled[{i}]")) if f.jitter or f.targets else f
                for i, f in enumerate(specs)]

    def draw_random(self, specs: list[RandomFaultSpec]) -> list[FaultBase]:
        """The random faults of `specs`, drawn from the seed, in time order per entry."""
        names = Names.of(self.twin.topo.spec) if specs else None
        out: list[FaultBase] = []
        for k, r in enumerate(specs):
            rng = generator(self.seed, "faults", f"random[{k}]")  # one stream per entry: entries stay independent
            start = r.window.start
            end = r.window.end if r.window.end is not None else (self.duration or start + 86400.0)
            times, t = [], start
            while True:  # a Poisson process: exponential gaps at `rate_per_hour`
                t += float(rng.exponential(3600.0 / r.rate_per_hour))
                if t >= end:
                    break
                times.append(float(round(t)))
            for t in times:
                kinds = [k for k in r.types if names.candidates(k, r.targets)]
                if not kinds:
                    break
                kind = kinds[int(rng.integers(len(kinds)))]
                pool = names.candidates(kind, r.targets)
                entry: dict[str, Any] = {"type": kind, "target": pool[int(rng.integers(len(pool)))], "at": t}
                if kind == "network_partition":
                    peers = names.partners(entry["target"])
                    entry["peer"] = peers[int(rng.integers(len(peers)))]
                if r.duration is not None:
                    entry["duration"] = r.duration
                out.append(parse_fault(entry))
        return out

    def _schedule(self):
        env = self.twin.env
        for f in self.plan:
            if f.at > env.now:
                yield env.timeout(f.at - env.now)
            self.inject(f)

    # --------------------------------------------------------- injecting
    def inject(self, spec: FaultBase) -> Fault:
        """Inject one fault now (scheduled faults come here at their time; tests may call it)."""
        kind = CATALOG[spec.type]
        fault = kind.behaviour(f"f{len(self.faults) + 1}", spec, kind, self.twin)
        self.faults.append(fault)
        fault.begin()
        gt = fault.ground_truth()
        self.twin.log.emit(self.twin.now, "fault_injected", fault_id=fault.id, type=kind.name, category=kind.category,
                           target=spec.target, target_kind=kind.target, fixes=gt["fixes"], params=gt["params"])
        if spec.duration is not None:
            self.twin.env.process(self._expire(fault, spec.duration))
        return fault

    def _expire(self, fault: Fault, duration: float):
        yield self.twin.env.timeout(duration)
        if fault.active:
            self.resolve(fault, "expired")

    def resolve(self, fault: Fault, by: str) -> None:
        fault.resolved_at, fault.resolved_by = self.twin.now, by
        fault.end()
        self.twin.log.emit(self.twin.now, "fault_resolved", fault_id=fault.id, type=fault.kind.name,
                           target=fault.spec.target, by=by)

    # --------------------------------------------------------- listening
    def _on_action(self, ticket: Ticket) -> None:
        if ticket.status == "undone":
            for fault in self.faults:
                if fault.resolved_by == ticket.id and fault.back():
                    fault.resolved_at = fault.resolved_by = None
                    self.twin.log.emit(self.twin.now, "fault_reopened", fault_id=fault.id, type=fault.kind.name,
                                       target=fault.spec.target, by=ticket.id)
            return
        if ticket.status != "succeeded":
            return
        for fault in self.active:
            if fault.fixed_by(ticket):
                self.resolve(fault, ticket.id)

    def _on_tick(self, frame: Frame) -> None:
        for fault in self.active:
            fault.update(frame)

    # ------------------------------------------------------------ results
    @property
    def active(self) -> list[Fault]:
        return [f for f in self.faults if f.active]

    def ground_truth(self) -> list[dict[str, Any]]:
        """Every injected fault so far, in injection order (for summary.json)."""
        return [f.ground_truth() for f in self.faults]

    def metrics(self) -> dict[str, int]:
        return {"faults_injected": len(self.faults), "faults_resolved": sum(1 for f in self.faults if not f.active)}
