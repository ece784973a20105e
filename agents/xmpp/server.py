"""The embedded XMPP server (SPADE's pyjabber 0.4.5), made fit for runs and tests.

:class:`EmbeddedServer` starts it in a child process of its own (its own process group, so
stopping it also ends the workers pyjabber forks at first login), waits until it listens, and
stops it at the end; nothing is left behind: no process, no database, no temp folder. It
listens on 127.0.0.1 only, on free ports (client, server-to-server and its admin page alike),
for the domain ``localhost``. If the parent dies, the child notices its closed stdin and exits.

Workarounds for pyjabber's bugs, applied in :func:`patch_pyjabber`:

- it binds the machine's network address besides loopback: ``setup_query_local_ip`` is
  replaced so it does not (``opstwin xmpp --public`` keeps it);
- its admin page is fixed on port 9090: it moves to a free port;
- the in-memory database can be wiped by a quick start/stop: a file database in a private
  temp folder, purged at start, is used instead;
- ``agent.start()`` hangs now and then because a stream restart after TLS/SASL is parsed
  before the server resets its parser: the parser clears its stack whenever a new
  ``<stream:stream>`` starts, and ``reset_stack`` becomes a no-op;
- it leaves ``pyjabber_xep0363_*`` temp folders: they are made inside the private folder;
- it relays whatever ``from`` a client claims, so anyone could speak as an agent: messages are
  stamped with the sender's authenticated JID (as Prosody does);
- stale sessions drop messages to a JID that reconnects: every run uses fresh JIDs and every
  agent announces presence in ``setup()`` (:mod:`agents.xmpp.wrapper`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


class XmppError(RuntimeError):
    """The XMPP server is unreachable, refused a login, or did not start."""


def patch_pyjabber(public: bool = False) -> None:
    """Apply the workarounds listed in the module docstring (call before building a Server)."""
    import pyjabber.server as pserver
    from aiohttp import web
    from pyjabber import http_server
    from pyjabber.network.parsers.XMLParser import XMLParser

    if not public:
        pserver.setup_query_local_ip = lambda: None

    async def start(self):  # the admin page, on a free loopback port instead of 9090
        runner = web.AppRunner(self._mainApp)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        try:
            await site.start()
            while True:
                await asyncio.sleep(3600)
        except asyncio.CancelledError:
            await runner.cleanup()

    http_server.HttpServer.start = start

    original = XMLParser.startElementNS

    def start_element(self, name, qname, attrs):
        if name == ("http://etherx.jabber.org/streams", "stream"):
            self._stack.clear()  # a stream restart: begin afresh whatever was pending
        return original(self, name, qname, attrs)

    XMLParser.startElementNS = start_element

    from pyjabber.stream.handlers.StanzaHandler import StanzaHandler

    handle_msg = StanzaHandler.handle_msg

    async def stamped(self, element):  # it relays a client's claimed `from`: stamp the session's own JID
        element.attrib["from"] = str(self._jid)
        return await handle_msg(self, element)

    StanzaHandler.handle_msg = stamped
    XMLParser.reset_stack = lambda self: None


async def serve(port: int, workdir: Path, public: bool = False, verbose: bool = False,
                on_ready=None) -> None:
    """Run the server until cancelled; `on_ready(port)` is called once it listens."""
    tempfile.tempdir = str(workdir)  # pyjabber's upload folders land here
    from loguru import logger

    logger.remove()
    if verbose:
        logger.add(sys.stderr, level=os.environ.get("OPSTWIN_XMPP_LOGLEVEL", "INFO"))
    patch_pyjabber(public)
    from pyjabber.plugins.xep_0363 import upload_server

    upload_server.TEMP_DIR = tempfile.mkdtemp(prefix="pyjabber_xep0363_", dir=workdir)
    from pyjabber.server import Server
    from pyjabber.server_parameters import Parameters

    params = Parameters(host="localhost", client_port=port, server_port=0,
                        database_path=str(workdir / "pyjabber.db"), database_purge=True,
                        database_in_memory=False, message_persistence=True)
    server = Server(params)
    task = asyncio.create_task(server.start())
    waiter = asyncio.create_task(server.ready.wait())
    done, _ = await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        waiter.cancel()
        raise XmppError("the embedded XMPP server stopped at start")
    bound = server._client_listener.sockets[0].getsockname()[1]
    if on_ready:
        on_ready(bound)
    await task


class EmbeddedServer:
    """pyjabber in a child process on 127.0.0.1 and a free port; a context manager."""

    def __init__(self, port: int = 0, start_timeout: float = 30.0) -> None:
        self.requested_port = port
        self.start_timeout = start_timeout
        self.host = "127.0.0.1"
        self.domain = "localhost"
        self.port: int | None = None
        self.proc: subprocess.Popen | None = None
        self.workdir: Path | None = None

    def start(self) -> EmbeddedServer:
        self.workdir = Path(tempfile.mkdtemp(prefix="opstwin-xmpp-"))
        cmd = [sys.executable, "-m", "opstwin.agents.xmpp.server", "--child", "--port", str(self.requested_port),
               "--dir", str(self.workdir)]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     start_new_session=True, text=True)
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(self.proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(self.start_timeout)
        if not line or not line[0].startswith("ready "):
            err = ""
            self.stop()
            raise XmppError(f"the embedded XMPP server did not start{': ' + err if err else ''}")
        self.port = int(line[0].split()[1])
        return self

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            kill_group(proc)
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                try:
                    stream.close()
                except Exception:  # noqa: BLE001 - best effort on a dead pipe
                    pass
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def __enter__(self) -> EmbeddedServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def kill_group(proc, grace: float = 3.0) -> None:
    """End a child that leads its own process group (Popen with start_new_session=True, or
    :class:`agents.xmpp.worker.Forked`) and everything in that group."""
    try:
        pgid = os.getpgid(proc.pid)
    except ProcessLookupError:
        pgid = None
    if pgid == os.getpgrp():  # not (yet) a group of its own: never signal our own group
        pgid = None
        try:
            os.kill(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if pgid is not None:
        try:
            os.killpg(pgid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        pass
    if pgid is not None:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        pass


def watch_parent() -> None:
    """Exit (with the whole process group) when the parent closes our stdin."""
    while os.read(0, 4096):  # raw reads: a buffered sys.stdin lock would deadlock forked children
        pass
    os.killpg(os.getpgrp(), signal.SIGKILL)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m agents.xmpp.server")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--dir", type=Path, required=True)
    ap.add_argument("--child", action="store_true", help="print 'ready PORT' and exit when stdin closes")
    ap.add_argument("--public", action="store_true")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)

    def ready(port: int) -> None:
        print(f"ready {port}", flush=True)

    if args.child:
        threading.Thread(target=watch_parent, daemon=True).start()
    try:
        asyncio.run(serve(args.port, args.dir, args.public, args.verbose, ready))
    except (KeyboardInterrupt, SystemExit):
        pass
    except XmppError as exc:
        print(f"error {exc}", file=sys.stderr, flush=True)
        sys.exit(2)


def run_foreground(port: int = 5222, public: bool = False, verbose: bool = False, say=print) -> None:
    """``opstwin xmpp``: the embedded server until Ctrl-C, in a temp folder removed at exit."""
    workdir = Path(tempfile.mkdtemp(prefix="opstwin-xmpp-"))

    def ready(bound: int) -> None:
        where = "all interfaces of this machine" if public else "127.0.0.1"
        say(f"XMPP server for domain 'localhost' on {where}, port {bound} (in-band registration on); Ctrl-C stops it")

    try:
        asyncio.run(serve(port, workdir, public, verbose, ready))
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        time.sleep(0)


if __name__ == "__main__":
    main()
