"""Nobody can pose as an agent or the human operator: the attacks of issue 12, each refused.

- the run's embedded server takes no in-band registration: its accounts are made by the run, the
  human's too (password printed once), so nobody squats an agent's or the human's JID;
- a crafted username such as ``bob@localhost/x`` (stamped as a JID of ``bob``) cannot log in,
  even on a server that takes registrations (``opstwin xmpp``, or the embedded one of a test);
- the embedded server has no HTTP admin page;
- a roster member's request to ``control`` without the guard's approval is refused and logged;
- on Prosody (an external server with registration on) a squatted human account stops the run
  before it starts.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time

import pytest

from opstwin.agents.xmpp.server import EmbeddedServer, XmppError
from opstwin.scenarios.loader import load, parse
from xmpp_helpers import SCENARIO, Client, LoginRefused, listening_ports

ADDRESS = "127.0.0.1"


def group_pids(proc) -> set[int]:
    out = subprocess.run(["pgrep", "-g", str(proc.pid)], capture_output=True, text=True).stdout.split()
    return {proc.pid, *map(int, out)}


@pytest.mark.slow  # a real XMPP server
def test_the_runs_server_takes_no_registration_so_nobody_squats(no_leftovers):
    with EmbeddedServer(accounts={"ops": "the-runs-pw", "guard.abc": "agent-pw"}) as server:
        address = (ADDRESS, server.port)
        for jid in ("ops@localhost", "guard.abc@localhost", "mallory@localhost"):  # squat, or just get in
            with pytest.raises(LoginRefused):
                Client(jid, "squatter-pw", address, timeout=8)
        Client("ops@localhost", "the-runs-pw", address, register=False).close()  # the run's own account works


def test_sender_jids_are_parsed_not_cut():
    from opstwin.agents.xmpp.wrapper import Roster, bare

    roster = Roster({"coordinator": "coordinator.ab@localhost"}, "clock.ab@localhost", "ops@localhost")
    assert bare("coordinator.ab@localhost/res-1") == "coordinator.ab@localhost"
    for forged in ("coordinator.ab@@localhost", "@localhost/coordinator.ab@localhost", "localhost", ""):
        assert not roster.knows(bare(forged)), forged
    with pytest.raises(ValueError):
        Roster({"x": "not a jid@"}, "clock.ab@localhost")


@pytest.mark.slow  # a real XMPP server
def test_a_crafted_username_cannot_log_in_to_the_runs_server(no_leftovers):
    """pyjabber stamps `bob@localhost/x` as `bob@localhost/x@localhost/<res>`, which parses as bob's JID:
    on the run's server such a name can neither be registered nor log in."""
    sim, team, transport = make_transport(load(SCENARIO))
    try:
        coordinator = transport.roster.jids["coordinator"]
        with pytest.raises(LoginRefused):
            Client("mallory@localhost", "pw", transport.address, username=f"{coordinator}/x", timeout=8)
    finally:
        transport.close()
        sim.log.close()


@pytest.mark.slow  # a real XMPP server
def test_opstwin_xmpp_registers_only_who_has_its_key_and_never_a_crafted_name(no_leftovers):
    """A server that takes registrations (`opstwin xmpp`) takes them only with its key: without it, with
    a wrong one, or with the key and a crafted username, no account and no login."""
    with EmbeddedServer(registration=True) as server:
        address = (ADDRESS, server.port)
        for key in (None, "a-guess"):
            with pytest.raises(LoginRefused):
                Client("mallory@localhost", "pw", address, key=key, timeout=5)
        with pytest.raises(LoginRefused):
            Client("mallory@localhost", "pw", address, username="bob.abc@localhost/x", key=server.registration_key,
                   timeout=5)
        Client("alice@localhost", "pw", address, key=server.registration_key, timeout=8).close()  # the key holder
    with pytest.raises(XmppError, match="not a valid XMPP username"):
        EmbeddedServer(accounts={"bob@localhost/x": "pw"}).start()


@pytest.mark.slow  # a real XMPP server
def test_the_embedded_server_serves_no_http_admin_page(no_leftovers):
    with EmbeddedServer() as server:
        time.sleep(1.0)  # the admin page used to come up just after the client port
        ports = {p for _, p in listening_ports(group_pids(server.proc))}
        assert server.port in ports
        for port in ports:
            with socket.create_connection((ADDRESS, port), timeout=2) as s:
                s.settimeout(2)
                s.sendall(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
                try:
                    reply = s.recv(64)
                except OSError:
                    reply = b""
            assert not reply.startswith(b"HTTP/"), port


def scenario_with_human(actions=("rate_limit", "migrate_noisy_neighbour")):
    data = json.loads(load(SCENARIO).model_dump_json())
    data["agents"]["guard"]["approval"] = {"actions": list(actions), "default": "deny", "human": "ops@localhost"}
    return parse(data)


def make_transport(scenario, **kw):
    from opstwin.agents.team import build_team
    from opstwin.agents.xmpp.transport import SpadeTransport
    from opstwin.engine.simulation import Simulation
    from opstwin.twin.control import ActionPort

    sim = Simulation(scenario, seed=2, agents=False).start()
    team = build_team(scenario.agents, sim.twin.topo, sim.twin.slo.copy(), scenario.tick, ActionPort(sim.control),
                      sim.seed)
    return sim, team, SpadeTransport(team.agents, scenario.agents, scenario.topology, scenario.tick, sim.seed, **kw)


@pytest.mark.slow  # a real XMPP server
def test_the_run_provisions_the_human_and_says_the_password_once(no_leftovers):
    said: list[str] = []
    sim, team, transport = make_transport(scenario_with_human(), say=said.append)
    try:
        lines = [s for s in said if "ops@localhost" in s]
        assert len(lines) == 1 and transport.human_password in lines[0]
        with pytest.raises(LoginRefused):  # a squatter with a password of their own
            Client("ops@localhost", "squatter-pw", transport.address, timeout=8)
        Client("ops@localhost", transport.human_password, transport.address, register=False).close()
    finally:
        transport.close()
        sim.log.close()


@pytest.fixture
def server_address(request):
    """None: the run's own embedded server; else the address of a throwaway Prosody."""
    if request.param == "embedded":
        yield None
        return
    from prosody import ProsodyServer, available

    if not available():
        pytest.skip("prosody is not installed")
    with ProsodyServer() as server:
        yield server.address


@pytest.mark.slow  # a real XMPP server
@pytest.mark.parametrize("server_address", ["embedded", "prosody"], indirect=True)
def test_a_roster_member_cannot_make_control_act_without_the_guards_approval(server_address, no_leftovers):
    """A compromised specialist (its own valid login) asks control directly: refused and logged."""
    from opstwin.agents.messages import ActionRequest, make

    scenario = load(SCENARIO)
    sim, team, transport = make_transport(scenario, xmpp=server_address)
    client = None
    try:
        client = Client(transport.roster.jids["compute"], transport.passwords["compute"], transport.address,
                        register=False)
        m = make("request", "action", "compute", "control", "compute-0-1",
                 ActionRequest(task="t1", action="restart_service", target=sorted(sim.twin.topo.graph)[0]), 0, 0, 1)
        meta = {"ot": "data", "performative": m.performative, "conversation": m.conversation, "tick": "0",
                "round": "0", "sender": m.sender, "seq": "1", "grant": "0" * 64}  # and a made-up grant
        client.send(transport.roster.jids["control"], m.to_json(), meta)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not transport.local["control"].pending:
            client.pump(0.1)
        reports = transport.run_round(0, 1, 0.0, {"control": 1})
        (report,) = reports
        assert [(x.performative, x.body["status"]) for x in report.outbox] == [("failure", "refused")]
        assert [e["kind"] for e in report.events] == ["request_refused"]
        assert sim.control.tickets == {}
    finally:
        if client:
            client.close()
        transport.close()
        sim.log.close()


@pytest.mark.slow  # a real XMPP server
def test_on_prosody_a_squatted_human_stops_the_run_before_it_starts(no_leftovers):
    from prosody import ProsodyServer, available

    if not available():
        pytest.skip("prosody is not installed")
    from opstwin.engine.runner import run

    with ProsodyServer() as server:
        with pytest.raises(LoginRefused):  # Prosody refuses a crafted username by itself (nodeprep)
            Client("mallory@localhost", "pw", (server.host, server.port), username="bob@localhost/x", timeout=8)
        squatter = Client("ops@localhost", "squatter-pw", (server.host, server.port))  # registers first
        try:
            with pytest.raises(XmppError, match="already exists"):
                run(scenario_with_human(), seed=2, agents=True, transport="spade", xmpp=server.address)
        finally:
            squatter.close()


@pytest.mark.slow  # a real XMPP server
def test_on_prosody_the_run_registers_the_human_and_the_squatter_is_refused(no_leftovers):
    from prosody import ProsodyServer, available

    if not available():
        pytest.skip("prosody is not installed")
    said: list[str] = []
    with ProsodyServer() as server:
        sim, team, transport = make_transport(scenario_with_human(), xmpp=server.address, say=said.append)
        try:
            assert any(transport.human_password in s for s in said)
            with pytest.raises(LoginRefused):
                Client("ops@localhost", "squatter-pw", (server.host, server.port), timeout=8)
        finally:
            transport.close()
            sim.log.close()
