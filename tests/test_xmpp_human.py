"""A human operator on XMPP, played by a plain slixmpp client: approval requests arrive as chat,
``deny <task>`` decides them; unattended runs keep the YAML default and stay reproducible."""

from __future__ import annotations

import asyncio
import json
import re
import threading

import pytest

from opstwin.scenarios.loader import load, parse
from opstwin.engine.runner import run
from xmpp_helpers import SCENARIO, children

pytestmark = pytest.mark.slow  # SPADE over XMPP, several seconds a test

HUMAN = "ops@localhost"


@pytest.fixture(scope="module")
def embedded():
    from opstwin.agents.xmpp.server import EmbeddedServer

    server = EmbeddedServer(registration=True).start()  # as `opstwin xmpp`: runs join it with --xmpp
    yield server
    server.stop()


def scenario_with_human():
    data = json.loads(load(SCENARIO).model_dump_json())
    data["agents"]["guard"]["approval"] = {"actions": ["rate_limit", "migrate_noisy_neighbour"],
                                           "default": "approve", "human": HUMAN}
    return parse(data)


class Operator(threading.Thread):
    """Logs in as the human and answers every approval request with `deny <task>`."""

    def __init__(self, address, password: str = "operator-pw"):
        super().__init__(daemon=True)
        self.address, self.seen, self.ready, self.loop = address, [], threading.Event(), None
        self.password = password

    def run(self):
        import ssl

        import slixmpp

        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        xmpp = self.xmpp = slixmpp.ClientXMPP(HUMAN, self.password)
        xmpp.enable_direct_tls = False
        xmpp.ssl_context.check_hostname = False
        xmpp.ssl_context.verify_mode = ssl.CERT_NONE
        xmpp.register_plugin("xep_0077")

        async def register(_):
            iq = xmpp.Iq()
            iq["type"] = "set"
            iq["register"]["username"], iq["register"]["password"] = "ops", self.password
            try:
                await iq.send()
            except Exception:  # noqa: BLE001 - already registered
                pass

        def session(_):
            xmpp.send_presence()
            self.ready.set()

        def message(msg):
            text = str(msg["body"])
            self.seen.append(text)
            found = re.search(r"approval needed for task (\S+):", text)
            if found:
                xmpp.send_message(mto=msg["from"], mbody=f"deny {found.group(1)}", mtype="chat")

        xmpp.add_event_handler("register", register)
        xmpp.add_event_handler("session_start", session)
        xmpp.add_event_handler("message", message)
        xmpp.connect(host=self.address[0], port=self.address[1])
        self.loop.run_forever()

    def stop(self):
        if self.loop:
            self.loop.call_soon_threadsafe(self.xmpp.disconnect)
            self.loop.call_soon_threadsafe(self.loop.stop)
        self.join(5)


def test_unattended_run_with_a_human_named_keeps_the_default(embedded, monkeypatch):
    monkeypatch.setenv("OPSTWIN_XMPP_KEY", embedded.registration_key)  # as a run joining `opstwin xmpp`
    scenario = scenario_with_human()
    a = run(scenario, seed=2, agents=True, transport="inproc")
    b = run(scenario, seed=2, agents=True, transport="spade", processes=2, xmpp=f"127.0.0.1:{embedded.port}",
            transport_options={"human_password": "given-by-the-user"})  # an account the user holds
    assert a["log_sha256"] == b["log_sha256"]


def test_human_denies_over_xmpp(tmp_path):
    """On the run's own server: the run makes the human's account and prints its password once; the
    operator logs in with it once the run is up, and decides."""
    before = set(children())
    said: list[str] = []
    humans: list[Operator] = []

    def operator(sim):
        transport = sim.clock.transport
        assert sum(transport.human_password in line for line in said) == 1
        human = Operator(transport.address, transport.human_password)
        humans.append(human)
        human.start()
        assert human.ready.wait(15)

    try:
        run(scenario_with_human(), seed=2, agents=True, transport="spade", processes=2, out=tmp_path,
            on_start=operator, transport_options={"human_wait": 20.0, "say": said.append})
    finally:
        for human in humans:
            human.stop()
    human = humans[0]
    events = [json.loads(x) for x in (tmp_path / "incidents.jsonl").read_text().splitlines()]
    approvals = [e for e in events if e["kind"] == "approval"]
    assert approvals and all(e["by"] == "human" and e["decision"] == "deny" for e in approvals)
    assert any("approval needed" in text for text in human.seen)
    assert set(children()) - before == set()
