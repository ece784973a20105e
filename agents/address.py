"""``HOST[:PORT]`` of an XMPP server, as a user types it: a name, an IPv4 address, or an IPv6
address in brackets (``[::1]:5222``, as in URLs; a bare ``::1`` is taken whole as the host)."""

from __future__ import annotations

import ipaddress

DEFAULT_PORT = 5222


def parse_address(text: str) -> tuple[str, int]:
    """(host, port); raises ValueError naming what is wrong. The port defaults to 5222."""
    text = text.strip()
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep:
            raise ValueError(f"bad XMPP address {text!r}: no closing ']' after the IPv6 address")
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"bad XMPP address {text!r}: {host!r} is not an IPv6 address") from None
        if rest and not rest.startswith(":"):
            raise ValueError(f"bad XMPP address {text!r}: expected [IPv6]:PORT")
        port = rest[1:]
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    else:
        host, port = text, ""  # a name, an IPv4 address, or a bare IPv6 address
    if not host:
        raise ValueError(f"bad XMPP address {text!r}: expected HOST[:PORT]")
    if not port:
        return host, DEFAULT_PORT
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"bad XMPP address {text!r}: port must be a number from 1 to 65535")
    return host, int(port)
