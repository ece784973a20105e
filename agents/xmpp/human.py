"""A human operator on XMPP: what they read, and what they may answer.

When a scenario names ``agents.guard.approval.human`` (a JID), messages the team addresses to
it (escalations, approval requests) are sent to that JID as plain chat text, readable in any
XMPP client. :func:`chat_text` renders them; :func:`parse_reply` reads an answer such as
``approve t3`` or ``deny t3``.
"""

from __future__ import annotations

from opstwin.agents.messages import Message

DECISIONS = ("approve", "deny")


def chat_text(m: Message) -> str:
    b = m.body
    if m.kind == "incident":
        text = f"[opstwin] incident {b.get('incident')} {b.get('status')}"
        return text + (f": {b['reason']}" if b.get("reason") else "")
    if m.kind == "approval":
        return (f"[opstwin] approval needed for task {b.get('task')}: {b.get('action')} on {b.get('target')}. "
                f"Reply 'approve {b.get('task')}' or 'deny {b.get('task')}'.")
    return f"[opstwin] {m.performative} {m.kind} from {m.sender}: {m.to_json()}"


def approval_text(task: str, action: str, target: str, wait: float) -> str:
    return (f"[opstwin] approval needed for task {task}: {action} on {target}. "
            f"Reply 'approve {task}' or 'deny {task}' within {wait:g}s (else the scenario's default).")


def parse_reply(text: str) -> tuple[str, str] | None:
    """``approve t3`` -> ("approve", "t3"); anything else -> None."""
    words = (text or "").strip().split()
    if len(words) == 2 and words[0].lower() in DECISIONS:
        return words[0].lower(), words[1]
    return None
