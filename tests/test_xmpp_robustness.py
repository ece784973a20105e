"""SPADE transport robustness: a killed agents process, and JIDs that are not on the run's roster."""

from __future__ import annotations

import json
import logging
import time

import pytest

from opstwin.scenarios.loader import load
from opstwin.engine.runner import run
from opstwin.engine.simulation import Simulation
from xmpp_helpers import SCENARIO, Client, kill_agents_process

pytestmark = pytest.mark.slow  # SPADE agents in other OS processes


def test_killed_specialist_process_is_lost_and_its_work_reauctioned(monkeypatch, tmp_path, no_leftovers):
    """4 processes: twin | diagnoser, coordinator, guard | compute, network | deploy, storage."""
    progress, killed = kill_agents_process(monkeypatch, "network", tick=30)

    scenario = load(SCENARIO)
    summary = run(scenario, seed=2, agents=True, transport="spade", processes=4, progress=progress, out=tmp_path,
                  transport_options={"round_timeout": 2.0})
    assert killed == [["compute", "network"]]
    assert summary["ticks"] == scenario.ticks  # the run went on to its end
    events = [json.loads(line) for line in (tmp_path / "incidents.jsonl").read_text().splitlines()]
    lost = [e for e in events if e["kind"] == "agent_lost"]
    assert lost and {e["agent"] for e in lost} <= {"compute", "network"}
    when = {e["agent"]: i for i, e in enumerate(events) if e["kind"] == "agent_lost"}  # position in the log
    first = min(when.values())
    held = {e["body"]["task"] for i, e in enumerate(events) if i < first and e["kind"] == "msg"
            and e["perf"] == "accept-proposal" and e["to"] in when}
    finished = {e["body"]["task"] for i, e in enumerate(events) if i < first and e["kind"] == "msg"
                and e["from"] in when and e["type"] == "action_result" and e["to"] == "coordinator"}
    reauctioned = {e["task"] for e in events if e["kind"] == "reauction"}
    assert held - finished <= reauctioned  # work the dead held is auctioned again (losses are seen at once now)
    sent = [(i, e) for i, e in enumerate(events) if e["kind"] == "msg" and e["perf"] in ("cfp", "accept-proposal")]
    assert not [e for i, e in sent if e["to"] in when and i > when[e["to"]]]  # nothing more for the dead
    awards = [e for i, e in sent if e["perf"] == "accept-proposal" and i > min(when.values())]
    assert awards and all(e["to"] in ("deploy", "storage") for e in awards)  # the living took the work
    assert events[-1]["kind"] == "run_finished"


def test_foreign_jid_is_dropped(no_leftovers, caplog, monkeypatch):
    """A JID off the roster sends an accept-proposal to a specialist and an action request to control."""
    from opstwin.agents.messages import make
    from opstwin.agents.team import build_team
    from opstwin.twin.control import ActionPort
    from opstwin.agents.xmpp.transport import SpadeTransport

    scenario = load(SCENARIO)
    r = Simulation(scenario, seed=2, agents=False).start()
    team = build_team(scenario.agents, r.twin.topo, r.twin.slo.copy(), scenario.tick, ActionPort(r.control), r.seed)
    from opstwin.agents.xmpp.server import EmbeddedServer

    open_server = EmbeddedServer(registration=True).start()  # as `opstwin xmpp`: mallory holds its key (an insider)
    monkeypatch.setenv("OPSTWIN_XMPP_KEY", open_server.registration_key)
    transport = SpadeTransport(team.agents, scenario.agents, scenario.topology, scenario.tick, r.seed,
                               xmpp=f"127.0.0.1:{open_server.port}")
    client = None
    try:
        caplog.set_level(logging.WARNING, logger="opstwin.xmpp")
        client = Client("mallory@localhost", "secret-pw", transport.address, key=open_server.registration_key)
        award = make("accept-proposal", "award", "coordinator", "compute", "x", {"task": "t1"}, 0, 0, 1)
        action = make("request", "action", "compute", "control", "y",
                      {"task": "t1", "action": "restart", "target": "storefront"}, 0, 0, 2)
        for m in (award, action):
            meta = {"ot": "data", "performative": m.performative, "conversation": m.conversation, "tick": "0",
                    "round": "0", "sender": m.sender, "seq": str(m.seq)}
            client.send(transport.roster.jids[m.receiver], m.to_json(), meta)
        # and one that claims to come from the coordinator: the server stamps the real sender
        from spade.message import Message as SpadeMessage

        forged = SpadeMessage(to=transport.roster.jids["compute"], sender=transport.roster.jids["coordinator"],
                              body=award.to_json(), metadata=meta)
        forged.prepare(client.xmpp).send()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and caplog.text.count("not on this run's roster") < 3:
            client.pump(0.1)
        assert caplog.text.count("not on this run's roster") >= 3
        # nothing was queued, and a round that lets them act finds nothing
        assert all(not transport.local[n].pending for n in ("compute", "control"))
        reports = transport.run_round(0, 1, 0.0, {"compute": 0, "control": 0})
        assert all(not rep.outbox and not rep.events for rep in reports)
        assert r.control.tickets == {} and team.by_name("compute").queue == []
    finally:
        if client:
            client.close()
        transport.close()
        open_server.stop()
        r.log.close()
