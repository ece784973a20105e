"""The embedded XMPP server (SPADE's pyjabber 0.4.5), made fit for runs and tests.

:class:`EmbeddedServer` starts it in a child process of its own (its own process group, so
stopping it also ends the workers pyjabber forks at first login), waits until it listens, and
stops it at the end; nothing is left behind: no process, no database, no temp folder. It
listens on 127.0.0.1 only, on free ports (client, server-to-server and its admin page alike),
for the domain ``localhost``. If the parent dies, the child notices its closed stdin and exits.

Workarounds for pyjabber's bugs, applied in :func:`patch_pyjabber`:

- it binds the machine's network address besides loopback: ``setup_query_local_ip`` is
  replaced so it does not (``opstwin xmpp --public`` keeps it);
- it always serves an HTTP admin page (on port 9090) that can list and add users: it is off;
- it accepts in-band registration of any username, so anyone could take an agent's or the human
  operator's account, or register a crafted name such as ``bob@localhost/x`` that its stamping
  renders as a JID of ``bob``: registration is off, the run creates its own accounts before anyone can log in
  (:class:`EmbeddedServer` ``accounts``), and a login whose username is not a valid JID localpart
  is refused; ``opstwin xmpp`` (for runs that join with ``--xmpp``) takes registrations only with
  the key it prints (XEP-0077's ``<key/>``) and of valid localparts only;
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
import json
import os
import secrets
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


def valid_localpart(user: str, domain: str = "localhost") -> bool:
    """True if `user` is a JID localpart as it stands (parsed, never string surgery)."""
    from slixmpp.jid import JID, InvalidJID

    try:
        jid = JID(f"{user}@{domain}")
    except InvalidJID:
        return False
    return jid.user == user and jid.domain == domain and not jid.resource


def patch_pyjabber(public: bool = False, registration: bool = False, key: str | None = None) -> None:
    """Apply the workarounds listed in the module docstring (call before building a Server)."""
    import base64

    import pyjabber.server as pserver
    from pyjabber import AppConfig, http_server
    from pyjabber.features.SASL.SASL import SASL
    from pyjabber.network.parsers.XMLParser import XMLParser
    from pyjabber.stanzas.error import StanzaError
    from pyjabber.stream.negotiators.StreamNegotiator import StreamNegotiator
    from pyjabber.utils.Exceptions import BadRequestException

    if not public:
        pserver.setup_query_local_ip = lambda: None

    async def no_admin_page(self):  # the HTTP admin page (users, passwords) stays off
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            pass

    http_server.HttpServer.start = no_admin_page

    if not registration:
        negotiator_init = StreamNegotiator.__init__

        def no_ibr_feature(self, *args, **kw):
            negotiator_init(self, *args, **kw)
            self._ibr_feature = False

        StreamNegotiator.__init__ = no_ibr_feature

        async def no_registration(self, element):
            raise BadRequestException()  # a bad-request error, and the connection is closed

        SASL.handle_iq = no_registration  # instances map "iq" to it in __init__
    elif key is not None:
        import hmac

        handle_iq = SASL.handle_iq

        async def keyed_registration(self, element):
            """A registration must carry the key (XEP-0077's <key/>) and a plain username."""
            query = element.find("{jabber:iq:register}query")
            if query is not None and element.attrib.get("type") == "set":
                given = (query.findtext("{jabber:iq:register}key") or "").encode()
                user = query.findtext("{jabber:iq:register}username") or ""
                if not hmac.compare_digest(given, key.encode()) or not valid_localpart(user, AppConfig.app_config.host):
                    raise BadRequestException()
            return await handle_iq(self, element)

        SASL.handle_iq = keyed_registration

    handle_auth = SASL.handle_auth

    async def checked_auth(self, element):
        if element.attrib.get("mechanism") != "EXTERNAL":
            try:
                user = base64.b64decode(element.text or "").split(b"\x00")[1].decode()
            except (ValueError, IndexError, UnicodeDecodeError):
                user = ""
            if not valid_localpart(user, AppConfig.app_config.host):
                self._transport.write(StanzaError.not_authorized_sasl())
                self._connection_manager.close(self._peer)
                return None
        return await handle_auth(self, element)

    SASL.handle_auth = checked_auth

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


SCRAM_ITERATIONS = 4096  # pyjabber's own registrations use 100,000; the database is private and per run


def scram_hash(password: str) -> str:
    """A password as pyjabber stores it: ``sha256$iterations$salt_hex$hash_hex``."""
    import hashlib

    salt = os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, SCRAM_ITERATIONS)
    return f"sha256${SCRAM_ITERATIONS}${salt.hex()}${digest.hex()}"


async def create_accounts(accounts: dict[str, str]) -> None:
    """Insert accounts (username -> password) into the running server's database."""
    from pyjabber.db.database import DB
    from pyjabber.db.model import Model
    from sqlalchemy import insert

    for user in accounts:
        if not valid_localpart(user):
            raise XmppError(f"not a valid XMPP username: {user!r}")
    async with await DB.connection_async() as con:
        async with con.begin():
            for user, password in sorted(accounts.items()):
                await con.execute(insert(Model.Credentials).values({"jid": user, "hash_pwd": scram_hash(password)}))


async def serve(port: int, workdir: Path, public: bool = False, verbose: bool = False,
                on_ready=None, registration: bool = False, accounts: dict[str, str] | None = None,
                key: str | None = None) -> None:
    """Run the server until cancelled; `accounts` are created before `on_ready(port)` is called."""
    tempfile.tempdir = str(workdir)  # pyjabber's upload folders land here
    from loguru import logger

    logger.remove()
    if verbose:
        logger.add(sys.stderr, level=os.environ.get("OPSTWIN_XMPP_LOGLEVEL", "INFO"))
    patch_pyjabber(public, registration, key)
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
    if accounts:
        await create_accounts(accounts)
    if on_ready:
        on_ready(bound)
    await task


class EmbeddedServer:
    """pyjabber in a child process on 127.0.0.1 and a free port; a context manager.

    `accounts` (username -> password) exist before it reports ready; with `registration` off (the
    default) nobody else can create one, and with it on only who has :attr:`registration_key`
    (as ``opstwin xmpp``). Accounts and key reach the child in a 0600 file in its private folder,
    which the child deletes once read."""

    def __init__(self, port: int = 0, start_timeout: float = 30.0, accounts: dict[str, str] | None = None,
                 registration: bool = False, registration_key: str | None = None) -> None:
        self.accounts = dict(accounts or {})
        self.registration = registration
        self.registration_key = (registration_key or secrets.token_urlsafe(16)) if registration else None
        self.requested_port = port
        self.start_timeout = start_timeout
        self.host = "127.0.0.1"
        self.domain = "localhost"
        self.port: int | None = None
        self.proc: subprocess.Popen | None = None
        self.workdir: Path | None = None

    def start(self) -> EmbeddedServer:
        from opstwin.agents.xmpp.files import private_dir, write_private

        self.workdir = private_dir("opstwin-xmpp")
        cmd = [sys.executable, "-m", "opstwin.agents.xmpp.server", "--child", "--port", str(self.requested_port),
               "--dir", str(self.workdir)]
        if self.accounts:
            write_private(self.workdir / "accounts.json", json.dumps(self.accounts))
            cmd += ["--accounts", str(self.workdir / "accounts.json")]
        if self.registration:
            write_private(self.workdir / "key", self.registration_key)
            cmd += ["--registration", "--key", str(self.workdir / "key")]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     start_new_session=True, text=True)
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(self.proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(self.start_timeout)
        if not line or not line[0].startswith("ready "):
            err = ""
            try:
                self.proc.wait(3 if line else 0.1)  # stdout closed: the child is exiting, with its reason on stderr
            except subprocess.TimeoutExpired:
                pass
            if self.proc.poll() is not None:
                tail = (self.proc.stderr.read() or "").strip().splitlines()
                err = tail[-1].removeprefix("error ") if tail else ""
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
        # the leader is gone and reaped (the server died and we noticed): what it forked may still run in
        # its group, whose id is its pid (it led a group of its own)
        pgid = proc.pid if getattr(proc, "returncode", None) is not None else None
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
    ap.add_argument("--registration", action="store_true", help="allow in-band registration")
    ap.add_argument("--accounts", type=Path, help="a JSON file {username: password}, deleted once read")
    ap.add_argument("--key", type=Path, help="a file holding the registration key, deleted once read")
    args = ap.parse_args(argv)
    accounts = key = None
    if args.accounts:
        accounts = json.loads(args.accounts.read_text())
        args.accounts.unlink()
    if args.key:
        key = args.key.read_text()
        args.key.unlink()

    def ready(port: int) -> None:
        print(f"ready {port}", flush=True)

    if args.child:
        threading.Thread(target=watch_parent, daemon=True).start()
    try:
        asyncio.run(serve(args.port, args.dir, args.public, args.verbose, ready, args.registration, accounts, key))
    except (KeyboardInterrupt, SystemExit):
        pass
    except XmppError as exc:
        print(f"error {exc}", file=sys.stderr, flush=True)
        sys.exit(2)


def run_foreground(port: int = 5222, public: bool = False, verbose: bool = False, say=print) -> None:
    """``opstwin xmpp``: the embedded server until Ctrl-C, in a temp folder removed at exit.

    Runs join it with ``--xmpp`` and register their own fresh accounts in-band, with the registration
    key it prints at start (or takes from ``OPSTWIN_XMPP_KEY``): without the key nobody registers."""
    from opstwin.agents.xmpp.accounts import KEY_ENV
    from opstwin.agents.xmpp.files import private_dir

    workdir = private_dir("opstwin-xmpp")
    key = os.environ.get(KEY_ENV) or secrets.token_urlsafe(16)

    def ready(bound: int) -> None:
        where = "all interfaces of this machine" if public else "127.0.0.1"
        say(f"XMPP server for domain 'localhost' on {where}, port {bound}; Ctrl-C stops it")
        if os.environ.get(KEY_ENV):
            say(f"registration needs the key in {KEY_ENV}")
        else:
            say(f"registration key (shown once; runs joining need it): {KEY_ENV}={key}")

    try:
        asyncio.run(serve(port, workdir, public, verbose, ready, registration=True, key=key))
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        time.sleep(0)


if __name__ == "__main__":
    main()
