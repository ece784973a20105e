"""The control plane: the actions an operator (or an agent) can take on the twin.

An action takes simulated time, may fail (seeded draw), is logged when requested, started
and finished, and on success leaves an undo that restores what it changed. Listeners (the
fault injector) hear of every finished and every undone action, which is how a fix ends a
fault (and an undone fix may bring it back) without the twin knowing about faults.

Actions cost what they cost in a real estate, whether they fix anything or not, so a wrong
action is never free: a restart (and a config revert, a certificate rotation) rolls the
replicas; a reboot takes every service of the host down for most of its duration; a rate
limit turns users away for `hold`; a move (failover, migration) starts on cold caches; a
network reset drops the host's connections; a new disk resyncs. These consequences are
effects owned by ``<ticket id>:<what>`` and cleared by a SimPy process, so they overlap
faults cleanly. Some of them happen even when the action fails (the reboot still took the
host down; a failed reboot leaves it down for a second, manual attempt).

Failure is a seeded draw (``ControlPlane.rng``) from each action's probability (a scenario's
``actions:`` section may override it and the duration), raised by the state of the target's
host: an action that needs the host fails mostly while the host is down, and more often while
its CPU is saturated (timeouts).

Who does the work matters when the scenario says so: ``workers`` gives a requester's true
(speed, success) per category of work (the category a request names). Its action then takes
duration / speed and succeeds with success x the action's own odds of success; work outside a
worker's declared categories runs at OUTSIDE_SKILLS. A requester without a profile is an average
worker (speed 1, success 1): the twin behaves exactly as without profiles. The failure draw is
still one draw per action from the same generator, so profiles change outcomes, never streams.

Each action type is one small class below; add one by subclassing :class:`ActionType` and
listing it in :data:`ACTIONS`.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

import numpy as np

from opstwin.twin.rng import generator

if TYPE_CHECKING:
    from opstwin.twin.model import Twin

Undo = Callable[[], None]

COLD_CACHE = 2.0  # latency factor right after a service moves, decaying to 1 over COLD_SECONDS
COLD_SECONDS = 300.0
RESYNC_LATENCY = 1.5  # latency factor of the services writing to a new disk while it resyncs
RESYNC_SECONDS = 600.0
RESET_DROP_SECONDS = 30.0  # a network reset drops the host's connections; callers fail this long
RESET_DROP_ERRORS = 0.5
BLIP_SECONDS = 60.0  # moving a co-tenant off a host takes this much of its CPU ...
BLIP_SHARE = 0.3  # ... this share of it
REBOOT_SHUTDOWN = 0.1  # share of a reboot's duration before the host goes down (drain, shutdown)
RATE_LIMIT_HOLD = 1800.0  # default seconds a rate limit stays on
RATE_LIMIT_HEADROOM = 0.8  # default cap: this share of the nominal capacity (queues stay short below it)
RATE_LIMIT_FALSE_POSITIVES = 0.02  # share of legitimate requests a limiter rejects anyway
HOST_DOWN_FAIL = 0.8  # failure probability of an action that needs a host that is down
SATURATED_FAIL = 2.0  # failure probability factor while the host's CPU is saturated
MAX_FAIL = 0.95
DECAY_STEP = 30.0  # seconds between updates of a decaying consequence
OUTSIDE_SKILLS = (0.5, 0.7)  # (speed, success) of a worker with declared skills on work outside them

Profiles = Mapping[str, Mapping[str, tuple[float, float]]]  # worker -> category -> (speed, success)


class ActionError(ValueError):
    """A request the control plane refuses (unknown action or target, bad parameter)."""


@dataclass
class ActionType:
    name: str
    target: str  # "service", "disk" or "host"
    duration: float  # seconds of sim time
    fail_probability: float
    summary: str
    needs_host: bool = True  # runs on the target's host (so fails while that host is down)

    def check(self, twin: Twin, target: str, params: dict[str, Any]) -> None:
        """Raise ActionError when the action cannot apply to this target now."""

    def begin(self, twin: Twin, target: str, params: dict[str, Any], owner: str, duration: float) -> None:
        """Consequences while the action runs (a reboot's downtime); `owner` owns their effects."""

    def finish(self, twin: Twin, target: str, params: dict[str, Any], owner: str, ok: bool) -> None:
        """Consequences when it ends, whether it succeeded (`ok`) or not (a restart rolled the replicas)."""

    def apply(self, twin: Twin, target: str, params: dict[str, Any], owner: str = "") -> Undo | None:
        """The change a success makes; returns its undo (None: nothing that can be undone)."""
        return None


# ------------------------------------------------------------ consequences
def _services_on_host(twin: Twin, h: int) -> list[int]:
    return twin.services_on_hosts([h]).tolist()


def _services_on_disk(twin: Twin, d: int) -> list[int]:
    return np.flatnonzero(twin.svc_disk == d).tolist()


def _hold(twin: Twin, owner: str, seconds: float, sets: list[tuple[str, int, float]]) -> None:
    """Set effects owned by `owner` now and clear them all `seconds` later."""
    for f, i, v in sets:
        twin.effects.set(owner, f, i, v)

    def clear():
        yield twin.env.timeout(seconds)
        twin.effects.clear(owner)

    twin.env.process(clear())


def _decay(twin: Twin, owner: str, field_: str, indices: list[int], peak: float, seconds: float) -> None:
    """A multiplicative effect owned by `owner`: `peak` now, back to 1 linearly over `seconds`
    (updated every DECAY_STEP); clearing the owner early ends it."""
    t0 = twin.now

    def run():
        while True:
            left = 1.0 - (twin.now - t0) / seconds
            if left <= 0 or (twin.now > t0 and twin.effects.get(owner, field_, indices[0]) is None):
                twin.effects.clear(owner)  # over, or cleared meanwhile (an undo): stays cleared
                return
            for i in indices:
                twin.effects.set(owner, field_, i, 1.0 + (peak - 1.0) * left)
            yield twin.env.timeout(min(DECAY_STEP, seconds))

    twin.env.process(run())


class Restarts(ActionType):
    """Actions that restart the service's replicas, rolling (a config revert, a new certificate):
    capacity drops while they come back, whether or not the action achieved its aim."""

    def finish(self, twin, target, params, owner, ok):
        twin.restart(target)


class RollbackDeployment(ActionType):
    def check(self, twin, target, params):
        if len(twin.versions[twin.topo.index(target)]) < 2:
            raise ActionError(f"{target} has no previous version to roll back to")

    def apply(self, twin, target, params, owner=""):
        removed = twin.rollback(target)
        return lambda: twin.redeploy(target, removed)


class ScaleService(ActionType):
    def check(self, twin, target, params):
        r = params.get("replicas")
        if isinstance(r, bool) or not isinstance(r, numbers.Integral) or not 1 <= r <= 1000:  # numpy ints too
            raise ActionError(f"scale_service needs an integer `replicas` in 1..1000, got {r!r}")

    def apply(self, twin, target, params, owner=""):
        i = twin.topo.index(target)
        old = twin.replicas[i]
        twin.replicas[i] = params["replicas"]
        return lambda: twin.replicas.__setitem__(i, old)


class CleanDisk(ActionType):
    def check(self, twin, target, params):
        _number_param(params, "keep", 0.0, 1.0)

    def apply(self, twin, target, params, owner=""):
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

    def apply(self, twin, target, params, owner=""):
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

    def apply(self, twin, target, params, owner=""):
        i = twin.topo.index(target)
        old = int(twin.svc_host[i])
        new = twin.topo.host_index(params["host"]) if params.get("host") else _least_loaded_host(twin, old)
        undo = _move(twin, i, new, owner)
        twin.restart(target)
        return undo


class Failover(ActionType):
    def check(self, twin, target, params):
        if twin.topo.svc_standby[twin.topo.index(target)] < 0:
            raise ActionError(f"{target} has no standby_host to fail over to")

    def apply(self, twin, target, params, owner=""):
        i = twin.topo.index(target)
        primary, standby = int(twin.topo.svc_host[i]), int(twin.topo.svc_standby[i])
        return _move(twin, i, standby if int(twin.svc_host[i]) == primary else primary, owner)


def _move(twin: Twin, i: int, host: int, owner: str) -> Undo:
    """Place service `i` on `host`; a service that writes to a disk writes to the new host's first
    disk from then on (its old one, if the host has none). Its caches start cold: latency x
    COLD_CACHE, decaying over COLD_SECONDS. Returns the undo (moving back, warm again)."""
    old_host, old_disk = int(twin.svc_host[i]), int(twin.svc_disk[i])
    disks = [d for d in range(len(twin.topo.disks)) if twin.topo.disk_host[d] == host]
    twin.place(i, host, disks[0] if old_disk >= 0 and disks else None)
    cold = f"{owner}:cold"
    _decay(twin, cold, "svc_lat_mult", [i], COLD_CACHE, COLD_SECONDS)

    def undo() -> None:
        twin.place(i, old_host, old_disk)
        twin.effects.clear(cold)

    return undo


class ReplaceDisk(ActionType):
    """The new disk resyncs from its replica: the services writing to it are slower for a while
    (a healthy disk pays that too)."""

    def apply(self, twin, target, params, owner=""):
        d = twin.topo.disk_index(target)
        _hold(twin, f"{owner}:resync", RESYNC_SECONDS,
              [("svc_lat_mult", i, RESYNC_LATENCY) for i in _services_on_disk(twin, d)])
        return None


class RebootHost(ActionType):
    """Every service of the host is down from shortly after the start to the end; memory is fresh
    afterwards. A failed reboot leaves the host down for another attempt by hand. No undo."""

    def begin(self, twin, target, params, owner, duration):
        h = twin.topo.host_index(target)

        def down():
            yield twin.env.timeout(REBOOT_SHUTDOWN * duration)
            twin.effects.set(f"{owner}:reboot", "host_down", h, 1.0)

        twin.env.process(down())

    def finish(self, twin, target, params, owner, ok):
        h = twin.topo.host_index(target)
        if ok:
            twin.effects.clear(f"{owner}:reboot")
            for i in _services_on_host(twin, h):
                twin.mem_extra[i] = 0.0
                twin.restarts[i] += twin.replicas[i]
        else:
            twin.effects.set(f"{owner}:reboot", "host_down", h, 1.0)  # hung at boot: stays down ...
            _hold(twin, f"{owner}:reboot", self.duration, [])  # ... until someone power-cycles it again


class ResetNetwork(ActionType):
    """Resetting the path drops every connection of the host: its services fail for a while."""

    def finish(self, twin, target, params, owner, ok):
        h = twin.topo.host_index(target)
        _hold(twin, f"{owner}:drop", RESET_DROP_SECONDS,
              [("svc_err_add", i, RESET_DROP_ERRORS) for i in _services_on_host(twin, h)])


class RateLimit(ActionType):
    """Caps the service's admitted rate for `hold` seconds (default RATE_LIMIT_HOLD) at `cap`
    requests/s (default RATE_LIMIT_HEADROOM of its nominal capacity): requests above the cap
    and a share of legitimate ones (false positives) fail with 429. The undo lifts it."""

    def check(self, twin, target, params):
        _number_param(params, "hold", 1.0, 86400.0)
        _number_param(params, "cap", 0.0, 1e12, low_open=True)

    def apply(self, twin, target, params, owner=""):
        i = twin.topo.index(target)
        cap = float(params.get("cap", RATE_LIMIT_HEADROOM * twin.capacity[i] * twin.replicas[i]))
        limit = f"{owner}:limit"
        _hold(twin, limit, float(params.get("hold", RATE_LIMIT_HOLD)),
              [("svc_rate_cap", i, cap), ("svc_reject", i, RATE_LIMIT_FALSE_POSITIVES)])
        return lambda: twin.effects.clear(limit)


class MigrateNoisyNeighbour(ActionType):
    """Live-migrating the co-tenant away takes a slice of the host's CPU for a minute."""

    def finish(self, twin, target, params, owner, ok):
        h = twin.topo.host_index(target)
        _hold(twin, f"{owner}:blip", BLIP_SECONDS, [("host_steal", h, BLIP_SHARE * twin.host_cpu[h])])


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
        used = float(frame.cpu[twin.services_on_hosts([h])].sum()) if frame is not None else 0.0
        free = twin.host_cpu[h] - used - twin.host_steal[h]
        if free > best_free:
            best, best_free = h, free
    return best


ACTIONS: dict[str, ActionType] = {
    a.name: a
    for a in (
        Restarts("restart_service", "service", 30.0, 0.02, "restart every replica of a service, rolling"),
        RollbackDeployment("rollback_deployment", "service", 120.0, 0.03, "return a service to its previous version"),
        ScaleService("scale_service", "service", 60.0, 0.02, "set a service's replica count (param `replicas`)"),
        CleanDisk("clean_disk", "disk", 60.0, 0.02, "delete rotated logs and temp data on a disk"),
        ExpandDisk("expand_disk", "disk", 300.0, 0.05, "grow a disk (param `factor`, default 2)"),
        MigrateService("migrate_service", "service", 180.0, 0.05,
                       "move a service to another host (param `host`); caches start cold", needs_host=False),
        Failover("failover", "service", 60.0, 0.03, "switch a service to its standby host; caches start cold",
                 needs_host=False),
        Restarts("rotate_certificate", "service", 60.0, 0.02,
                 "issue and install a new TLS certificate (rolling restart)"),
        Restarts("revert_config", "service", 60.0, 0.03,
                 "restore a service's configuration to the desired state (rolling restart)"),
        ReplaceDisk("replace_disk", "disk", 600.0, 0.05, "swap a disk for a new one; its services slow while it resyncs"),
        RebootHost("reboot_host", "host", 300.0, 0.05, "power-cycle a host: its services are down meanwhile",
                   needs_host=False),
        ResetNetwork("reset_network", "host", 120.0, 0.03,
                     "reset a host's network path (routes, NIC, firewall); drops its connections"),
        RateLimit("rate_limit", "service", 30.0, 0.02,
                  "cap a service's admitted rate for a while (params `cap`, `hold`); turns some users away"),
        MigrateNoisyNeighbour("migrate_noisy_neighbour", "host", 180.0, 0.05,
                              "move a CPU-hogging co-tenant off a host (a CPU blip meanwhile)"),
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
    success: float = 1.0  # the worker's true success factor for this work (1: an average worker)
    finished_at: float | None = None
    undo: Undo | None = field(default=None, repr=False)


class ControlPlane:
    """Accepts action requests, runs them as SimPy processes, and undoes them on demand."""

    def __init__(self, twin: Twin, settings: Mapping[str, Any] | None = None, workers: Profiles | None = None) -> None:
        """`settings`: per action name, overrides with `fail` and `duration` (None keeps the default);
        a scenario's ``actions:`` section. `workers`: true skill profiles of requesters (module docstring)."""
        self.workers = {w: dict(p) for w, p in (workers or {}).items()}
        self.twin = twin
        self.rng = generator(twin.seed, "control")
        unknown = sorted(set(settings or {}) - set(ACTIONS))
        if unknown:
            raise ActionError(f"unknown action {unknown[0]!r}; known: {', '.join(ACTIONS)}")
        self.settings = dict(settings or {})
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
                on_done: Callable[[Ticket], None] | None = None, category: str | None = None) -> Ticket:
        """Start `action` on `target` now; returns its ticket (raises ActionError if refused). `category`:
        the kind of work it is (compute, storage, ...), which picks the requester's profile, if it has one."""
        params = dict(params or {})
        kind = self.validate(action, target, params)
        self._seq += 1
        speed, success = self.profile(requester, category)
        ticket = Ticket(f"a{self._seq}", action, target, params, requester, self.twin.now, success=success)
        self.tickets[ticket.id] = ticket
        duration = self.duration(action) / speed
        self.twin.log.emit(self.twin.now, "action_started", action_id=ticket.id, action=action, target=target,
                           params=params, by=requester, eta=self.twin.now + duration)
        self.twin.mark_change(kind.target, target, self.twin.now + duration)
        kind.begin(self.twin, target, params, ticket.id, duration)
        self.twin.env.process(self._run(kind, ticket, duration, on_done))
        return ticket

    def profile(self, requester: str, category: str | None) -> tuple[float, float]:
        """(speed, success) of `requester` on work of `category`: (1, 1) for a worker without a profile."""
        skills = self.workers.get(requester)
        if skills is None:
            return 1.0, 1.0
        return skills.get(category or "", OUTSIDE_SKILLS)

    def duration(self, action: str) -> float:
        """Sim seconds `action` takes (the scenario's setting, else the action's own)."""
        d = getattr(self.settings.get(action), "duration", None)
        return float(ACTIONS[action].duration if d is None else d)

    def fail_probability(self, action: str, target: str) -> float:
        """The chance `action` on `target` fails now: the scenario's setting (else the action's own),
        raised when the host it runs on is down (HOST_DOWN_FAIL) or CPU-saturated (x SATURATED_FAIL)."""
        kind = ACTIONS[action]
        p = getattr(self.settings.get(action), "fail", None)
        p = float(kind.fail_probability if p is None else p)
        twin = self.twin
        h = {"service": lambda: int(twin.svc_host[twin.topo.index(target)]),
             "disk": lambda: int(twin.topo.disk_host[twin.topo.disk_index(target)]),
             "host": lambda: twin.topo.host_index(target)}[kind.target]()
        if kind.needs_host and twin.host_down[h] > 0:
            p = max(p, HOST_DOWN_FAIL)
        elif twin.frame is not None and twin.frame.host_cpu[h] >= 1.0:
            p = min(MAX_FAIL, max(p, p * SATURATED_FAIL))
        return p

    def _run(self, kind: ActionType, ticket: Ticket, duration: float, on_done):
        ticket.status = "running"
        yield self.twin.env.timeout(duration)
        p = self.fail_probability(ticket.action, ticket.target)
        if ticket.success < 1.0:
            p = 1.0 - ticket.success * (1.0 - p)
        failed = self.rng.random() < p
        kind.finish(self.twin, ticket.target, ticket.params, ticket.id, not failed)
        if not failed:
            try:
                kind.check(self.twin, ticket.target, ticket.params)
                ticket.undo = kind.apply(self.twin, ticket.target, ticket.params, ticket.id)
            except ActionError as exc:
                failed = True
                ticket.params = {**ticket.params, "reason": str(exc)}
        ticket.status = "failed" if failed else "succeeded"
        ticket.finished_at = self.twin.now
        self.twin.mark_change(kind.target, ticket.target, self.twin.now)
        self.twin.log.emit(self.twin.now, "action_" + ticket.status, action_id=ticket.id, action=ticket.action,
                           target=ticket.target, by=ticket.requester)
        for listener in self.listeners:
            listener(ticket)
        if on_done:
            on_done(ticket)

    def undo(self, ticket_id: str, requester: str = "operator") -> bool:
        """Restore what a succeeded action changed (instantly: it is a revert, not a new change).
        False for an action with nothing to restore (a restart, a reboot: what happened happened)."""
        ticket = self.tickets.get(ticket_id)
        if ticket is None:
            raise ActionError(f"unknown action id {ticket_id!r}")
        if ticket.status != "succeeded" or ticket.undo is None:
            return False
        ticket.undo()
        ticket.status = "undone"
        self.twin.log.emit(self.twin.now, "action_undone", action_id=ticket.id, action=ticket.action,
                           target=ticket.target, by=requester)
        for listener in self.listeners:  # what the undone action had ended may be back
            listener(ticket)
        return True


@dataclass(frozen=True)
class TicketView:
    """What a requester learns about an action: its id, what it was and how it went (no undo handle)."""

    id: str
    action: str
    target: str
    status: str
    reason: str = ""
    finished_at: float | None = None  # sim time it took effect (or failed)

    @classmethod
    def of(cls, ticket: Ticket) -> TicketView:
        return cls(ticket.id, ticket.action, ticket.target, ticket.status, str(ticket.params.get("reason", "")),
                   ticket.finished_at)


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
                on_done: Callable[[TicketView], None] | None = None, category: str | None = None) -> TicketView:
        """Start `action` on `target`; `on_done` hears how it ended (raises ActionError if refused).
        `category` names the kind of work (it decides how well a worker with a profile does it)."""
        done = (lambda t: on_done(TicketView.of(t))) if on_done else None
        return TicketView.of(self._plane.request(action, target, params, requester=requester, on_done=done,
                                                 category=category))

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
