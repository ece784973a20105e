"""SPADE agents over XMPP: the same incident log as in-process, servers and processes cleaned up.

The embedded server (pyjabber in a child process) is started by a fixture and stopped at the
end; every test checks that it leaves no process of its own behind.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from opstwin.scenarios.loader import load
from opstwin.engine.runner import run
from xmpp_helpers import SCENARIO, listening_ports

pytestmark = pytest.mark.slow  # SPADE over the embedded XMPP server, several seconds a test

OPSTWIN = str(Path(sys.executable).parent / "opstwin")


@pytest.fixture(scope="module")
def embedded():
    from opstwin.agents.xmpp.server import EmbeddedServer

    server = EmbeddedServer(registration=True).start()  # as `opstwin xmpp`: runs join it with --xmpp
    yield server
    server.stop()


@pytest.fixture(scope="module")
def inproc_sha():
    return run(load(SCENARIO), seed=2, agents=True, transport="inproc")["log_sha256"]


def test_spade_one_process_same_log_as_inproc(inproc_sha, no_leftovers):
    """Its own embedded server, started and stopped by the run."""
    summary = run(load(SCENARIO), seed=2, agents=True, transport="spade")
    assert summary["log_sha256"] == inproc_sha
    assert summary["messages"] > 0


def test_spade_three_processes_same_log_as_inproc(inproc_sha, embedded, no_leftovers, monkeypatch):
    monkeypatch.setenv("OPSTWIN_XMPP_KEY", embedded.registration_key)  # as a run joining `opstwin xmpp`
    stats: dict = {}
    summary = run(load(SCENARIO), seed=2, agents=True, transport="spade", processes=3,
                  xmpp=f"127.0.0.1:{embedded.port}", transport_options={"stats": stats})
    assert summary["log_sha256"] == inproc_sha
    assert stats["rounds"] == summary["rounds"] and stats["lost"] == []


def test_a_lost_hello_is_said_again_until_the_clock_answers(inproc_sha, no_leftovers, monkeypatch):
    """The clock drops every agent's first hello (as when it came before the clock's session was up):
    agents in this process and in forked ones say it again and the run starts and matches."""
    from opstwin.agents.xmpp import transport as tr

    original, dropped = tr.ClockAgent.handle, set()

    async def handle(self, msg):
        if msg.get_metadata("ot") == "hello" and msg.sender not in dropped:
            dropped.add(msg.sender)
            return
        await original(self, msg)

    monkeypatch.setattr(tr.ClockAgent, "handle", handle)
    summary = run(load(SCENARIO), seed=2, agents=True, transport="spade", processes=3,
                  transport_options={"start_timeout": 30.0})
    assert len(dropped) >= 8 and summary["log_sha256"] == inproc_sha


def test_cli_default_transport_is_spade_and_matches(inproc_sha, tmp_path, no_leftovers):
    proc = subprocess.run([OPSTWIN, "run", str(SCENARIO), "--seed", "2", "--processes", "2", "-q",
                           "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["log_sha256"] == inproc_sha


def test_joining_opstwin_xmpp_without_its_key_is_one_line_and_exit_2(embedded, tmp_path, no_leftovers):
    env = {k: v for k, v in os.environ.items() if k != "OPSTWIN_XMPP_KEY"}
    proc = subprocess.run([OPSTWIN, "run", str(SCENARIO), "--xmpp", f"127.0.0.1:{embedded.port}", "-q", "--out",
                           str(tmp_path / "out")], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "OPSTWIN_XMPP_KEY" in lines[0] and "Traceback" not in proc.stderr, proc.stderr
    assert not (tmp_path / "out" / "incidents.jsonl").exists()


def test_server_down_is_one_line_and_exit_2(tmp_path, no_leftovers):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    out = tmp_path / "out"
    proc = subprocess.run([OPSTWIN, "run", str(SCENARIO), "--xmpp", f"127.0.0.1:{port}", "-q", "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "no XMPP server" in lines[0] and "Traceback" not in proc.stderr
    assert not (out / "incidents.jsonl").exists() and not (out / "summary.json").exists()


def local_address() -> str | None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("10.254.254.254", 1))
        ip = s.getsockname()[0]
    except OSError:
        return None
    finally:
        s.close()
    return None if ip.startswith("127.") else ip


def test_embedded_server_listens_on_loopback_only_and_cleans_up(no_leftovers):
    from opstwin.agents.xmpp.server import EmbeddedServer

    server = EmbeddedServer().start()
    workdir = server.workdir
    try:
        pids = {server.proc.pid, *[int(p) for p in subprocess.run(
            ["pgrep", "-g", str(server.proc.pid)], capture_output=True, text=True).stdout.split()]}
        ports = listening_ports(pids)
        assert ports and all(addr == "0100007F" for addr, _ in ports), ports  # 127.0.0.1, little-endian hex
        assert 9090 not in {p for _, p in ports}
        ip = local_address()
        if ip:
            with pytest.raises(OSError):
                socket.create_connection((ip, server.port), timeout=1).close()
    finally:
        server.stop()
    assert not workdir.exists()
