"""Helpers for the XMPP tests: child-process accounting and a plain slixmpp client."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path


LIBRARY = Path(__file__).resolve().parent.parent / "scenarios"
SCENARIO = LIBRARY / "black-friday.yaml"


def children() -> list[int]:
    """Live (not zombie) child processes of this process."""
    me, out = os.getpid(), []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == me and fields[0] != "Z":
            out.append(int(d.name))
    return out


def kill_agents_process(monkeypatch, agent: str, tick: int):
    """A run's `progress` hook that SIGKILLs the agents process hosting `agent` at `tick` (the spade
    transport with several processes), and the list that then holds the names that process hosted."""
    import opstwin.agents.xmpp.transport as tr

    made, killed = [], []
    original = tr.SpadeTransport.__init__

    def capture(self, *a, **kw):
        made.append(self)
        original(self, *a, **kw)

    monkeypatch.setattr(tr.SpadeTransport, "__init__", capture)

    def progress(frame, scenario):
        if frame.tick == tick and not killed:
            worker = next(w for w in made[0].workers if agent in w.opstwin_names)
            os.kill(worker.pid, signal.SIGKILL)
            killed.append(worker.opstwin_names)

    return progress, killed


class LoginRefused(Exception):
    """The server gave this client no session (bad credentials, no such account)."""


def listening_ports(pids: set[int]) -> list[tuple[str, int]]:
    """(hex address, port) of the TCP sockets the processes `pids` listen on."""
    inodes = set()
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:
            continue
    out = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            f = line.split()
            if f[3] == "0A" and f[9] in inodes:
                addr, port = f[1].split(":")
                out.append((addr, int(port, 16)))
    return out


class Client:
    """A plain slixmpp client (not SPADE) on its own event loop: registers, logs in, sends, receives."""

    def __init__(self, jid: str, password: str, address: tuple[str, int], *, username: str | None = None,
                 register: bool = True, key: str | None = None, timeout: float = 15.0) -> None:
        import slixmpp

        self.key = key  # the registration key of a server that asks for one (`opstwin xmpp`)

        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.xmpp = slixmpp.ClientXMPP(jid, password)
        self.username = username or self.xmpp.boundjid.user  # an attacker may log in under a crafted name
        if username:
            self.xmpp.credentials["username"] = username
        self.xmpp.enable_direct_tls = False
        import ssl

        self.xmpp.ssl_context.check_hostname = False
        self.xmpp.ssl_context.verify_mode = ssl.CERT_NONE
        self.xmpp.register_plugin("xep_0004")
        self.xmpp.register_plugin("xep_0077")
        self.received: list[str] = []
        self.ready = asyncio.Event()
        self.failed = asyncio.Event()
        if register:
            self.xmpp.add_event_handler("register", self._register)
        self.xmpp.add_event_handler("session_start", self._session)
        self.xmpp.add_event_handler("failed_auth", lambda _: self.failed.set())
        self.xmpp.add_event_handler("message", lambda m: self.received.append(str(m["body"])))
        self.xmpp.connect(host=address[0], port=address[1])
        self.run(self._wait(timeout))
        if not self.ready.is_set():
            self.close()
            raise LoginRefused(f"{self.username}: no session")

    async def _wait(self, timeout: float) -> None:
        waits = [asyncio.ensure_future(self.ready.wait()), asyncio.ensure_future(self.failed.wait())]
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        for w in waits:
            w.cancel()

    async def _register(self, _):
        iq = self.xmpp.Iq()
        iq["type"] = "set"
        iq["register"]["username"] = self.username
        iq["register"]["password"] = self.xmpp.password
        if self.key:
            iq["register"]["key"] = self.key
        try:
            await iq.send()
        except Exception:  # noqa: BLE001 - already registered
            pass

    def _session(self, _):
        self.xmpp.send_presence()
        self.ready.set()

    def run(self, coro):
        return self.loop.run_until_complete(coro)

    def pump(self, seconds: float) -> None:
        self.run(asyncio.sleep(seconds))

    def send(self, to: str, body: str, metadata: dict[str, str] | None = None) -> None:
        from spade.message import Message

        msg = Message(to=to, sender=str(self.xmpp.boundjid.bare), body=body, metadata=metadata or {})
        msg.prepare(self.xmpp).send()
        self.pump(0.2)

    def close(self) -> None:
        try:
            self.xmpp.disconnect()
            self.pump(0.3)
        finally:
            self.loop.close()
