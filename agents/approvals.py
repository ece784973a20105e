"""Approval grants: proof, checkable by the control endpoint, that the guard approved an action.

The guard issues a grant for every action it approves (and for every undo it asks for); the
specialist passes it on with its request, and ``control`` runs a request only with a valid,
unused grant for exactly that (task, action, target, undo). A grant is an HMAC under a key that
only the guard and ``control`` hold, so no other agent, and nobody else on the XMPP server, can
mint one, and each grant works once.

Grants travel in a message's ``meta``, beside its body, never in it: they are credentials, and
the incident log (which records bodies) must not hold them. So the log does not depend on the
key, which is random per run and feeds no decision: a valid grant is accepted under any key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

META = "grant"  # the Message.meta key (and XMPP metadata key) a grant travels under


class Grants:
    """Issues and checks grants under one key (shared by the guard and ``control`` of a run)."""

    def __init__(self, key: bytes | None = None) -> None:
        self.key = key if key is not None else secrets.token_bytes(32)
        self.used: set[str] = set()

    def _mac(self, task: str, action: str, target: str, undo_of: str | None) -> str:
        text = "\x1f".join((task, action, target, undo_of or ""))
        return hmac.new(self.key, text.encode(), hashlib.sha256).hexdigest()

    def issue(self, task: str, action: str, target: str, undo_of: str | None = None) -> str:
        """A grant for exactly this action (the guard's side)."""
        return self._mac(task, action, target, undo_of)

    def redeem(self, grant: str | None, task: str, action: str, target: str, undo_of: str | None = None) -> bool:
        """True once for a grant issued for exactly this action (``control``'s side); False otherwise."""
        if not grant or grant in self.used:
            return False
        if not hmac.compare_digest(grant, self._mac(task, action, target, undo_of)):
            return False
        self.used.add(grant)
        return True
