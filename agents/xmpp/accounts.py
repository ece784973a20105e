"""Accounts on an external XMPP server (the run's embedded one gets its accounts at start).

A run on an external server creates every account itself before any agent logs in, so agents
only ever log in. Two ways, as the server allows:

- in-band registration (XEP-0077), with the registration key (``OPSTWIN_XMPP_KEY``) that
  ``opstwin xmpp`` prints at start and requires: a server that takes registrations from anyone
  would let anyone take a name;
- a provisioning command (``OPSTWIN_XMPP_ADDUSER``), for a server whose registration is off: a
  template with ``{jid}``, ``{user}`` and ``{domain}``, given the password twice on standard input,
  e.g. ``prosodyctl --config /etc/prosody/prosody.cfg.lua adduser {jid}``.

An account that already exists (someone registered it first) is reported, never reused.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
import ssl
import subprocess

from opstwin.agents.xmpp.server import XmppError


ADDUSER_ENV = "OPSTWIN_XMPP_ADDUSER"
KEY_ENV = "OPSTWIN_XMPP_KEY"


def create_accounts(address: tuple[str, int], accounts: dict[str, str], key: str | None = None,
                    adduser: str | None = None, timeout: float = 15.0) -> list[str]:
    """Create every account (jid -> password) on the server at `address`; the JIDs that already
    existed (none were created for them). The provisioning command `adduser` (default: the
    environment's OPSTWIN_XMPP_ADDUSER) if there is one, else in-band registration with `key`
    (default: OPSTWIN_XMPP_KEY). XmppError if the server or the command refused."""
    adduser = adduser if adduser is not None else os.environ.get(ADDUSER_ENV) or None
    key = key if key is not None else os.environ.get(KEY_ENV) or None
    if adduser:
        return [jid for jid, password in sorted(accounts.items()) if not provision(adduser, jid, password, timeout)]

    async def all_of_them() -> list[bool]:
        return await asyncio.gather(*(_register(address, jid, pw, timeout, key) for jid, pw in sorted(accounts.items())))

    quiet = _NoSlixmppOnRoot()
    logging.getLogger().addFilter(quiet)
    try:
        created = asyncio.run(all_of_them())
    finally:
        logging.getLogger().removeFilter(quiet)
    return [jid for jid, ok in zip(sorted(accounts), created) if not ok]


class _NoSlixmppOnRoot(logging.Filter):
    """slixmpp logs some stanza warnings on the root logger (``logging.warning``), past its own logger's
    level: a refused registration printed one per account. The run reports the refusal itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "slixmpp" not in record.pathname


def provision(template: str, jid: str, password: str, timeout: float = 15.0) -> bool:
    """Run the provisioning command for `jid` (password twice on stdin, never on the command line):
    True if it created the account, False if the account already exists."""
    user, _, domain = jid.partition("@")
    cmd = [part.format(jid=jid, user=user, domain=domain) for part in shlex.split(template)]
    try:
        done = subprocess.run(cmd, input=f"{password}\n{password}\n", capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise XmppError(f"{ADDUSER_ENV} ({cmd[0]}) failed for {jid}: {exc}") from None
    said = (done.stdout + done.stderr).strip()
    if "exists" in said.lower():
        return False
    if done.returncode != 0:
        last = said.splitlines()[-1] if said else f"exit {done.returncode}"
        raise XmppError(f"{ADDUSER_ENV} ({cmd[0]}) could not create {jid}: {last}")
    return True


def register_account(address: tuple[str, int], jid: str, password: str, timeout: float = 15.0,
                     key: str | None = None) -> bool:
    """True if `jid` was created with `password`; False if it already existed. XmppError if the
    server could not be asked."""
    return asyncio.run(_register(address, jid, password, timeout, key))


async def _register(address: tuple[str, int], jid: str, password: str, timeout: float,
                    key: str | None = None) -> bool:
    import slixmpp
    from slixmpp.exceptions import IqError

    client = slixmpp.ClientXMPP(jid, password)
    client.enable_direct_tls = False
    client.ssl_context.check_hostname = False
    client.ssl_context.verify_mode = ssl.CERT_NONE
    client.register_plugin("xep_0004")
    client.register_plugin("xep_0077")
    outcome: asyncio.Future = asyncio.get_running_loop().create_future()

    async def register(_):
        iq = client.Iq()
        iq["type"] = "set"
        iq["register"]["username"] = client.boundjid.user
        iq["register"]["password"] = password
        if key:
            iq["register"]["key"] = key
        try:
            await iq.send()
        except IqError as exc:
            if not outcome.done():
                outcome.set_result(False if exc.condition == "conflict" else exc)
            return
        if not outcome.done():
            outcome.set_result(True)

    client.add_event_handler("register", register)

    def closed(_) -> None:  # pyjabber answers a registration without its key by closing the stream
        if not outcome.done():
            outcome.set_result(ConnectionAbortedError("it closed the connection; a server that asks for a "
                                                      f"registration key needs it in {KEY_ENV}"))

    client.add_event_handler("disconnected", closed)
    client.add_event_handler("failed_auth", lambda _: outcome.done() or outcome.set_result(False))
    client.connect(host=address[0], port=address[1])
    try:
        result = await asyncio.wait_for(outcome, timeout)
    except asyncio.TimeoutError:
        raise XmppError(f"the XMPP server at {address[0]}:{address[1]} did not answer a registration for {jid}") from None
    finally:
        client.disconnect()
        try:
            await asyncio.wait_for(client.disconnected, 3)
        except (asyncio.TimeoutError, TypeError, AttributeError):
            pass
    if isinstance(result, Exception):
        raise XmppError(f"the XMPP server at {address[0]}:{address[1]} refused to register {jid}: {result}")
    return bool(result)
