"""The control plane: the actions an operator (or an agent) can take on the twin.

An action takes simulated time, may fail (seeded draw), is logged when requested, started
and finished, and on success leaves an undo that restores what it changed. Listeners (the
fault injector) hear of every finished action, which is how a fix ends a fault without the
twin knowing about faults.

Each action type is one small class below; add one by subclassing :class:`ActionType` and
listing it in :data:`ACTIONS`.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from opstwin.twin.rng import generator

if TYPE_CHECKING:
    from opstwin.twin.model import Twin

Undo = Callable[[], None]


class ActionError(ValueError):
    """A request the control plane refuses (unknown action or target, bad parameter)."""


@dataclass
class ActionType:
    name: str
    target: str  # "service", "disk" or "host"
    duration: float  # seconds of sim time
    fail_probability: float
    summary: str

    def check(self, twin: Twin, target: str, params: dict[str, Any]) -> None:
        """Raise ActionError when the action cannot apply to this target now."""

    def apply(self, twin: Twin, target: str, params: dict[str, Any]) -> Undo:
        raise NotImplementedError


class RestartService(ActionType):
    def apply(self, twin, target, params):
        twin.restart(target)
        return lambda: None  # a restart changes nothing that persists


class RollbackDeployment(ActionType):
    def check(self, twin, target, params):
        if len(twin.versions[twin.topo.index(target)]) < 2:
            raise ActionError(f"{target} has no previous version to roll back to")

    def apply(self, twin, target, params):
        removed = twin.rollback(target)
        return lambda: twin.redeploy(target, removed)


class ScaleService(ActionType):
    def check(self, twin, target, params):
        r = params.get("replicas")
        if isinstance(r, bool) or not isinstance(r, numbers.Integral) or not 1 <= r <= 1000:  # numpy ints too
            raise ActionError(f"scale_service needs an integer `replicas` in 1..1000, got {r!r}")

    def apply(self, twin, target, params):
        i = twin.topo.index(target)
        old = twin.replicas[i]
        twin.replicas[i] = params["replicas"]
        return lambda: twin.replicas.__setitem__(i, old)


class CleanDisk(ActionType):
    def check(self, twin, target, params):
        _number_param(params, "keep", 0.0, 1.0)

    def apply(self, twin, target, params):
        d = twin.topo.disk_index(target)
        junk, rotating = twin.disk_junk[d], twin.disk_rotating[d]
        twin.disk_junk[d] = 0.0  # stray files, runaway dumps: all of it
        twin.disk_rotating[d] = rotating * float(params.get("keep", 0.2))  # older rotated logs
        twin.disk_used_bytes[d] = min(twin.disk_size[d], twin.disk_base[d] + twin.disk_rotating[d])

        def undo() -> None:
            twin.disk_junk[d], twin.disk_rotating[d] = junk, rotating

        return undo


class ExpandDisk(ActionType):
    def check(self, twin, target, params):
        _number_param(params, "factor", 1.0, 100.0, low_open=True)

    def apply(self, twin, target, params):
        d = twin.topo.disk_index(target)
        factor = float(params.get("factor", 2.0))
        added = twin.disk_size[d] * (factor - 1.0)
        twin.disk_size[d] += added
        return lambda: twin.disk_size.__setitem__(d, twin.disk_size[d] - added)


class MigrateService(ActionType):
    def check(self, twin, target, params):
        host = params.get("host")
        if host is not None and host not in twin.topo.hosts:
            raise ActionError(f"migrate_service: unknown host {host!r}")

    def apply(self, twin, target, params):
        i = twin.topo.index(target)
        old = int(twin.svc_host[i])
        new = twin.topo.host_index(params["host"]) if params.get("host") else _least_loaded_host(twin, old)
        undo = _move(twin, i, new)
        twin.restart(target)
        return undo


class Failover(ActionType):
    def check(self, twin, target, params):
        if twin.topo.svc_standby[twin.topo.index(target)] < 0:
            raise ActionError(f"{target} has no standby_host to fail over to")

    def apply(self, twin, target, params):
        i = twin.topo.index(target)
        primary, standby = int(twin.topo.svc_host[i]), int(twin.topo.svc_standby[i])
        return _move(twin, i, standby if int(twin.svc_host[i]) == primary else primary)


def _move(twin: Twin, i: int, host: int) -> Undo:
    """Place service `i` on `host`; a service that writes to a disk writes to the new host's first
    disk from then on (its old one, if the host has none). Returns the undo."""
    old_host, old_disk = int(twin.svc_host[i]), int(twin.svc_disk[i])
    twin.svc_host[i] = host
    disks = [d for d in range(len(twin.topo.disks)) if twin.topo.disk_host[d] == host]
    if old_disk >= 0 and disks:
        twin.svc_disk[i] = disks[0]

    def undo() -> None:
        twin.svc_host[i], twin.svc_disk[i] = old_host, old_disk

    return undo


class ClearFlag(ActionType):
    """An action whose only effect is what the fault injector does on hearing of it
    (rotate a certificate, revert a config, drain connections, ...)."""

    def apply(self, twin, target, params):
        return lambda: None


def _number_param(params: dict[str, Any], key: str, low: float, high: float, low_open: bool = False) -> None:
    """Refuse an optional numeric parameter outside [low, high] (or (low, high])."""
    if key not in params:
        return
    v = params[key]
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not (low < v if low_open else low <= v) or v > high:
        raise ActionError(f"`{key}` must be a number in {'(' if low_open else '['}{low:g}, {high:g}], got {v!r}")


def _least_loaded_host(twin: Twin, avoid: int) -> int:
    """The healthy host with most free CPU (ties: lowest index), other than `avoid`."""
    frame = twin.truth  # the control plane knows the true load (twin-side)
    best, best_free = avoid, -1.0
    for h in range(len(twin.topo.hosts)):
        if h == avoid or twin.host_down[h] > 0:
            continue
        used = float(frame.cpu[twin.svc_host == h].sum()) if frame is not None else 0.0
        free = twin.host_cpu[h] - used - twin.host_steal[h]
        if free > best_free:
            best, best_free = h, free
    return best


ACTIONS: dict[str, ActionType] = {
    a.name: a
    for a in (
        RestartService("restart_service", "service", 30.0, 0.02, "restart every replica of a service"),
        RollbackDeployment("rollback_deployment", "service", 120.0, 0.02, "return a service to its previous version"),
        ScaleService("scale_service", "service", 60.0, 0.02, "set a service's replica count (param `replicas`)"),
        CleanDisk("clean_disk", "disk", 60.0, 0.02, "delete rotated logs and temp data on a disk"),
        ExpandDisk("expand_disk", "disk", 300.0, 0.05, "grow a disk (param `factor`, default 2)"),
        MigrateService("migrate_service", "service", 180.0, 0.05, "move a service to another host (param `host`)"),
        Failover("failover", "service", 60.0, 0.03, "switch a service to its standby host"),
        ClearFlag("rotate_certificate", "service", 60.0, 0.02, "issue and install a new TLS certificate"),
        ClearFlag("revert_config", "service", 60.0, 0.02, "restore a service's configuration to the desired state"),
        ClearFlag("replace_disk", "disk", 600.0, 0.05, "swap a failed disk for a new one and resync"),
        ClearFlag("reboot_host", "host", 300.0, 0.05, "power-cycle a host"),
        ClearFlag("reset_network", "host", 120.0, 0.03, "reset a host's network path (routes, NIC, firewall)"),
        ClearFlag("rate_limit", "service", 30.0, 0.02, "shed abusive traffic at the edge of a service"),
        ClearFlag("migrate_noisy_neighbour", "host", 180.0, 0.05, "move a CPU-hogging co-tenant off a host"),
    )
}


@dataclass
class Ticket:
    """One requested action, from request to result."""

    id: str
    action: str
    target: str
    params: dict[str, Any]
    requester: str
    requested_at: float
    status: str = "pending"  # pending, running, succeeded, failed, undone
    finished_at: float | None = None
    undo: Undo | None = field(default=None, repr=False)


class ControlPlane:
    """Accepts action requests, runs them as SimPy processes, and undoes them on demand."""

    def __init__(self, twin: Twin) -> None:
        self.twin = twin
        self.rng = generator(twin.seed, "control")
        self.tickets: dict[str, Ticket] = {}
        self.listeners: list[Callable[[Ticket], None]] = []
        self._seq = 0

    def validate(self, action: str, target: str, params: dict[str, Any] | None = None) -> ActionType:
        kind = ACTIONS.get(action)
        if kind is None:
            raise ActionError(f"unknown action {action!r}; known: {', '.join(ACTIONS)}")
        names = {"service": self.twin.topo.services, "disk": self.twin.topo.disks, "host": self.twin.topo.hosts}
        if target not in set(names[kind.target]):
            raise ActionError(f"{action}: unknown {kind.target} {target!r}")
        kind.check(self.twin, target, params or {})
        return kind

    def request(self, action: str, target: str, params: dict[str, Any] | None = None, requester: str = "operator",
                on_done: Callable[[Ticket], None] | None = None) -> Ticket:
        """Start `action` on `target` now; returns its ticket (raises ActionError if refused)."""
        params = dict(params or {})
        kind = self.validate(action, target, params)
        self._seq += 1
        ticket = Ticket(f"a{self._seq}", action, target, params, requester, self.twin.now)
        self.tickets[ticket.id] = ticket
        self.twin.log.emit(self.twin.now, "action_started", action_id=ticket.id, action=action, target=target,
                           params=params, by=requester, eta=self.twin.now + kind.duration)
        self.twin.env.process(self._run(kind, ticket, on_done))
        return ticket

    def _run(self, kind: ActionType, ticket: Ticket, on_done):
        ticket.status = "running"
        yield self.twin.env.timeout(kind.duration)
        failed = self.rng.random() < kind.fail_probability
        if not failed:
            try:
                kind.check(self.twin, ticket.target, ticket.params)
                ticket.undo = kind.apply(self.twin, ticket.target, ticket.params)
            except ActionError as exc:
                failed = True
                ticket.params = {**ticket.params, "reason": str(exc)}
        ticket.status = "failed" if failed else "succeeded"
        ticket.finished_at = self.twin.now
        self.twin.log.emit(self.twin.now, "action_" + ticket.status, action_id=ticket.id, action=ticket.action,
                           target=ticket.target, by=ticket.requester)
        for listener in self.listeners:
            listener(ticket)
        if on_done:
            on_done(ticket)

    def undo(self, ticket_id: str, requester: str = "operator") -> bool:
        """Restore what a succeeded action changed (instantly: it is a revert, not a new change)."""
        ticket = self.tickets.get(ticket_id)
        if ticket is None:
            raise ActionError(f"unknown action id {ticket_id!r}")
        if ticket.status != "succeeded" or ticket.undo is None:
            return False
        ticket.undo()
        ticket.status = "undone"
        self.twin.log.emit(self.twin.now, "action_undone", action_id=ticket.id, action=ticket.action,
                           target=ticket.target, by=requester)
        return True


@dataclass(frozen=True)
class TicketView:
    """What a requester learns about an action: its id, what it was and how it went (no undo handle)."""

    id: str
    action: str
    target: str
    status: str
    reason: str = ""

    @classmethod
    def of(cls, ticket: Ticket) -> TicketView:
        return cls(ticket.id, ticket.action, ticket.target, ticket.status, str(ticket.params.get("reason", "")))


class ActionPort:
    """The narrow face of the control plane that agents get: request an action, undo one, read a
    ticket's status, read a service's replica count (to resolve `replicas: x2`).

    No twin, no listeners, no tickets' undo closures: an agent (or a reasoner plugged into one)
    acts through what an operator's API would offer, and cannot reach the ground truth.
    """

    __slots__ = ("_plane",)

    def __init__(self, plane: ControlPlane) -> None:
        self._plane = plane

    def request(self, action: str, target: str, params: dict[str, Any] | None = None, requester: str = "operator",
                on_done: Callable[[TicketView], None] | None = None) -> TicketView:
        """Start `action` on `target`; `on_done` hears how it ended (raises ActionError if refused)."""
        done = (lambda t: on_done(TicketView.of(t))) if on_done else None
        return TicketView.of(self._plane.request(action, target, params, requester=requester, on_done=done))

    def undo(self, action_id: str, requester: str = "operator") -> bool:
        """Undo a succeeded action; False for an unknown id or one that cannot be undone."""
        return action_id in self._plane.tickets and self._plane.undo(action_id, requester=requester)

    def status(self, action_id: str) -> TicketView | None:
        ticket = self._plane.tickets.get(action_id)
        return TicketView.of(ticket) if ticket else None

    def replicas(self, service: str) -> int:
        """A service's current replica count (raises ActionError for an unknown service)."""
        twin = self._plane.twin
        if service not in twin.topo.services:
            raise ActionError(f"unknown service {service!r}")
        return int(twin.replicas[twin.topo.index(service)])
