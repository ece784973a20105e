"""Control runs only what the guard approved: the guard's grant (agents.approvals) goes with the
request; a request without it, with a forged or replayed one, or from anyone but a baseline team's
own agent in a baseline run, is refused and logged. The guard stops waiting for a lost monitor."""

from __future__ import annotations

import pytest

from opstwin.agents.approvals import META, Grants
from opstwin.agents.base import Context
from opstwin.agents.control_agent import ControlAgent
from opstwin.agents.guard import Guard
from opstwin.agents.messages import ActionRequest, Approval, Sli, make
from opstwin.agents.spec import GuardSpec
from opstwin.twin.control import ActionPort, ControlPlane
from opstwin.twin.topology import Topology


@pytest.fixture
def plane(make_twin, no_failures):
    twin = make_twin()
    twin.advance()
    return twin, ControlPlane(twin)


def request(sender: str, grant: str | None, task: str = "t1", action: str = "restart_service", target: str = "api",
            undo_of: str | None = None):
    m = make("request", "action", sender, "control", f"{sender}-1", ActionRequest(task=task, action=action, target=target,
                                                                                 undo_of=undo_of), 1, 0, 1)
    if grant is not None:
        m.meta[META] = grant
    return m


def step(agent, inbox, tick: int = 1) -> Context:
    ctx = Context(agent.name, tick, 1, 10.0, agent.seq)
    agent.step(ctx, inbox)
    agent.seq = ctx.seq
    return ctx


def test_control_refuses_requests_the_guard_did_not_approve(plane):
    twin, cp = plane
    grants = Grants()
    control = ControlAgent("control", 1, ActionPort(cp), grants)
    forged = Grants().issue("t1", "restart_service", "api")  # a key of one's own
    other = grants.issue("t1", "restart_service", "web")  # approved for another target
    ctx = step(control, [request("compute", None), request("compute", forged), request("compute", other)])
    assert [m.body["status"] for m in ctx.outbox] == ["refused"] * 3
    assert all(m.performative == "failure" and "approval" in m.body["reason"] for m in ctx.outbox)
    assert [e["kind"] for e in ctx.events] == ["request_refused"] * 3
    assert ctx.events[0]["requester"] == "compute" and cp.tickets == {}


def test_control_runs_an_approved_request_once(plane):
    twin, cp = plane
    grants = Grants()
    control = ControlAgent("control", 1, ActionPort(cp), grants)
    grant = grants.issue("t1", "restart_service", "api")
    ctx = step(control, [request("compute", grant)])
    assert [m.body["status"] for m in ctx.outbox] == ["running"] and len(cp.tickets) == 1
    replay = step(control, [request("network", grant)])  # the same grant a second time
    assert [m.body["status"] for m in replay.outbox] == ["refused"] and len(cp.tickets) == 1


def test_a_baseline_run_trusts_its_baseline_agent_only(plane):
    twin, cp = plane
    control = ControlAgent("control", 1, ActionPort(cp), Grants(), trusted=("shotgun",))
    ctx = step(control, [request("shotgun", None), request("compute", None, task="t2")])
    assert [m.body["status"] for m in ctx.outbox] == ["running", "refused"]


def test_the_guard_grants_what_it_approves_and_the_specialist_passes_it_on(small_topology):
    from opstwin.agents.policies import load_policy
    from opstwin.agents.specialist import Specialist
    from opstwin.agents.messages import Task

    topo = Topology.build(small_topology)
    grants = Grants()
    guard = Guard("guard", 1, GuardSpec(), 10.0, topo, [], grants=grants)  # no monitor: the SLI is taken as 1
    ask = make("request", "approval", "compute", "guard", "c-1", Approval(task="t1", action="restart_service",
                                                                           target="api"), 1, 0, 1)
    answer = step(guard, [ask]).outbox[0]
    assert answer.body["decision"] == "approve" and META not in answer.body
    spec = Specialist("compute", 1, ["compute"], load_policy("heuristic"))
    spec.current = Task(task="t1", incident="i1", category="compute", action="restart_service", target="api")
    req = step(spec, [answer]).outbox[0]
    assert req.kind == "action" and grants.redeem(req.meta.get(META), "t1", "restart_service", "api")


def test_the_guard_stops_waiting_for_a_lost_monitor(small_topology):
    topo = Topology.build(small_topology)
    guard = Guard("guard", 1, GuardSpec(), 10.0, topo, ["monitor-0", "monitor-1"])
    ask = make("request", "approval", "compute", "guard", "c-1", Approval(task="t1", action="restart_service",
                                                                           target="api"), 1, 0, 1)
    queries = step(guard, [ask]).outbox
    assert [m.receiver for m in queries] == ["monitor-0", "monitor-1"]
    conv = queries[0].conversation
    sli = make("inform", "sli", "monitor-0", "guard", conv, Sli(task="t1", good=3, total=3), 1, 1, 1)
    assert step(guard, [sli]).outbox == []  # still waiting for monitor-1
    ctx = Context("guard", 1, 2, 10.0, guard.seq)
    guard.agent_lost(ctx, "monitor-1")  # ...which the transport reports lost
    assert [(m.kind, m.body["decision"], m.body["sli"]) for m in ctx.outbox] == [("approval", "approve", 1.0)]
    assert guard.monitors == ["monitor-0"] and guard.measures == {}
