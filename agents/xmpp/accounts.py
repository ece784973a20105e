"""Account checks on an external XMPP server (the embedded one gets its accounts at start).

:func:`register_account` registers one account in-band and tells whether it was created; an
account that already exists (someone registered it first) is reported, never reused.
"""

from __future__ import annotations

import asyncio
import ssl

from opstwin.agents.xmpp.server import XmppError


def register_account(address: tuple[str, int], jid: str, password: str, timeout: float = 15.0) -> bool:
    """True if `jid` was created with `password`; False if it already existed. XmppError if the
    server could not be asked."""
    return asyncio.run(_register(address, jid, password, timeout))


async def _register(address: tuple[str, int], jid: str, password: str, timeout: float) -> bool:
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
        try:
            await iq.send()
        except IqError as exc:
            if not outcome.done():
                outcome.set_result(False if exc.condition == "conflict" else exc)
            return
        if not outcome.done():
            outcome.set_result(True)

    client.add_event_handler("register", register)
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
