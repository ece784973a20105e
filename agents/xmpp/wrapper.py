"""The SPADE agent that hosts one logic object and runs its superstep rounds over XMPP.

Wire format (every stanza has a non-empty JSON body; metadata values are strings):

- data: ``ot=data``; body ``Message.to_json()``; metadata ``performative``, ``conversation``,
  ``tick``, ``round``, ``sender``, ``seq`` (the superstep stamp). A message sent in round r of
  a tick is for round r+1 of that tick.
- round start (clock -> agent): ``ot=start``; body ``{tick, round, t, expect, lost}``.
  The agent waits until it holds ``expect`` data messages for that round (the start can
  overtake them), sorts them by (sender, seq), steps its logic exactly as
  :class:`agents.bus.InProcTransport` does, sends its outbox straight to the receivers, then
- round done (agent -> clock): ``ot=done``; body ``{agent, tick, round, outbox, events, wakes}``
  with the outbox in order, so the clock logs exactly what the in-process reports give.
- lost (clock -> coordinator and guard): ``ot=lost``; body ``{tick, round, t, names, specialists}``,
  the agents that stopped answering; the coordinator's ``specialist_lost`` runs for specialists
  and the guard's ``agent_lost`` for all; their reports come back as round dones.
- hello (agent -> clock) once online, answered by welcome (clock -> agent); an agent says hello
  again every ``HELLO_EVERY`` wall seconds until welcomed, since a hello sent while the clock's
  session was not yet up can be lost (the run then waited for an agent that was online).
- stop (clock -> agent) at the end.

Only JIDs on the run's roster are listened to: the sender's JID (as the server stamped it) is
parsed with slixmpp's JID parser, and a message whose sender does not parse, or whose parsed
(localpart, domain) is not on the roster, is dropped and logged (Python logging, not the incident
log). A data message must also name its real sender and this agent as receiver. Messages to a receiver off the roster that looks like a JID (a human operator)
are sent as readable chat messages; see :mod:`agents.xmpp.human`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from slixmpp.jid import JID, InvalidJID
from spade.agent import Agent as SpadeAgent
from spade.behaviour import CyclicBehaviour
from spade.message import Message as SpadeMessage

from opstwin.agents.approvals import META as GRANT
from opstwin.agents.base import Agent, Context
from opstwin.agents.bus import tell_lost
from opstwin.agents.messages import WORK, Message

log = logging.getLogger("opstwin.xmpp")
HELLO_EVERY = 2.0  # wall seconds between hellos until the clock answers


def bare(jid: Any) -> str:
    """The bare JID (``local@domain``) of a full or bare JID, parsed; "" if it is not a valid JID
    with a localpart (so it matches nobody)."""
    try:
        parsed = JID(str(jid))
    except InvalidJID:
        return ""
    return parsed.bare if parsed.user else ""


def parts(jid: Any) -> tuple[str, str]:
    """(localpart, domain) of a valid JID, parsed; ("", "") otherwise."""
    try:
        parsed = JID(str(jid))
    except InvalidJID:
        return "", ""
    return parsed.user, parsed.domain


def dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), default=_plain)


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalar
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


@dataclass
class Roster:
    """Who is in this run: agent name <-> JID, the clock's JID, and an optional human."""

    jids: dict[str, str]  # agent name -> bare JID
    clock: str
    human: str | None = None
    by_jid: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.by_jid = {bare(j): n for n, j in self.jids.items()}
        if "" in self.by_jid or not bare(self.clock) or (self.human and not bare(self.human)):
            raise ValueError("every JID on a roster must be a valid JID with a localpart")

    def knows(self, jid: str) -> bool:
        """`jid` is a parsed bare JID (:func:`bare`)."""
        return bool(jid) and (jid in self.by_jid or jid == bare(self.clock)
                              or (self.human is not None and jid == bare(self.human)))


def spade_message(to: str, body: str, meta: dict[str, str]) -> SpadeMessage:
    msg = SpadeMessage(to=to, body=body)
    for k, v in meta.items():
        msg.set_metadata(k, v)
    return msg


MAX_BODY = 200 * 1024  # Prosody refuses c2s stanzas over 256 KiB by default; stay well below


def data_message(m: Message, to: str) -> SpadeMessage:
    body = m.to_json()
    if len(body) > MAX_BODY:  # bulk telemetry belongs with the twin (TWIN_SIDE), not on XMPP
        raise ValueError(f"{m.sender} -> {m.receiver}: a {m.kind} message of {len(body)} bytes is too big for XMPP")
    meta = {"ot": "data", "performative": m.performative, "conversation": m.conversation, "tick": str(m.tick),
            "round": str(m.round), "sender": m.sender, "seq": str(m.seq)}
    for key in (GRANT, WORK):  # the guard's grant (agents.approvals) and the work's category travel beside the body
        if m.meta.get(key):
            meta[key] = m.meta[key]
    return spade_message(to, body, meta)


class _Mailbox(CyclicBehaviour):
    async def run(self) -> None:
        msg = await self.receive(timeout=3600)
        if msg is not None:
            try:
                await self.agent.handle(msg)
            except Exception:  # noqa: BLE001 - a bad message must not kill the agent
                log.exception("%s: error handling a message", self.agent.jid)


class XmppAgent(SpadeAgent):
    """Common plumbing: connect to a given address, retry a hung start, the roster check."""

    def __init__(self, jid: str, password: str, roster: Roster, address: tuple[str, int],
                 register: bool = False) -> None:
        super().__init__(jid, password, port=address[1])
        self.roster = roster
        self.address = address
        self.register = register  # in-band registration: only on an external server; the embedded one has accounts
        self.box: _Mailbox | None = None

    async def _async_connect(self) -> None:
        connect = self.client.connect
        self.client.connect = lambda host=None, port=None, **kw: connect(host=self.address[0], port=self.address[1])
        await super()._async_connect()

    async def setup(self) -> None:
        self.presence.set_available()  # pyjabber: routes to the newest session only with this
        self.box = _Mailbox()
        self.add_behaviour(self.box)

    async def send(self, msg: SpadeMessage) -> None:
        msg.sender = str(self.jid)
        await self.container.send(msg, self.box)

    def accept(self, msg: SpadeMessage) -> str | None:
        """The sender's parsed bare JID if it is on the roster; otherwise log and drop (None)."""
        sender = bare(msg.sender)
        if self.roster.knows(sender):
            return sender
        log.warning("%s: dropped a message from %s, not on this run's roster", self.jid, str(msg.sender)[:200])
        return None

    async def handle(self, msg: SpadeMessage) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


async def start_agent(agent: XmppAgent, timeout: float = 10.0, tries: int = 3) -> None:
    """`agent.start()` with a deadline and retries (pyjabber's start can hang)."""
    from spade.agent import AuthenticationFailure, DisconnectedException

    last: Exception | None = None
    for _ in range(tries):
        try:
            await asyncio.wait_for(agent.start(auto_register=agent.register), timeout)
            return
        except AuthenticationFailure as exc:
            raise ConnectionRefusedError(f"the XMPP server refused the login of {agent.jid}") from exc
        except (asyncio.TimeoutError, DisconnectedException, OSError) as exc:
            last = exc
            client = agent.client
            if client is not None:
                client.abort()
                try:
                    await asyncio.wait_for(client.disconnected_event.wait(), 3)
                except (asyncio.TimeoutError, AttributeError):
                    pass
    raise TimeoutError(f"{agent.jid} could not connect to the XMPP server at {agent.address[0]}:{agent.address[1]}"
                       f" ({type(last).__name__})")


class LogicHost(XmppAgent):
    """Hosts one logic :class:`agents.base.Agent`; steps it when the clock says and its inbox is in."""

    def __init__(self, jid: str, password: str, roster: Roster, address: tuple[str, int], logic: Agent,
                 human_text=None, human_wait: float = 0.0, register: bool = False) -> None:
        super().__init__(jid, password, roster, address, register)
        # attended: an agent that can ask the human (the guard) steps in a thread and waits up to
        # human_wait wall seconds for a reply; the sim does not advance meanwhile
        self.human_wait = human_wait if roster.human and hasattr(logic, "ask_human") else 0.0
        self.answers: dict[str, concurrent.futures.Future] = {}
        if self.human_wait > 0:
            logic.ask_human = self._ask_human
        self.logic = logic
        self.pending: dict[tuple[int, int], list[Message]] = {}
        self.current: dict[str, Any] | None = None
        self.lost: set[str] = set()
        self.stopped = asyncio.Event()
        self.welcomed = asyncio.Event()
        self.human_text = human_text  # Message -> chat text for a human receiver

    async def say_hello(self) -> None:
        """Hello to the clock until it answers (wall time used for nothing else: no decision hangs on it)."""
        while not (self.welcomed.is_set() or self.stopped.is_set()):
            await self.send(spade_message(self.roster.clock, dumps({"agent": self.logic.name}), {"ot": "hello"}))
            try:
                await asyncio.wait_for(self.welcomed.wait(), HELLO_EVERY)
            except asyncio.TimeoutError:
                pass

    async def handle(self, msg: SpadeMessage) -> None:
        sender = self.accept(msg)
        if sender is None:
            return
        kind = msg.get_metadata("ot")
        if self.roster.human and sender == bare(self.roster.human):
            self._on_human(msg.body or "")
        elif kind == "data":
            await self._on_data(sender, msg)
        elif sender != bare(self.roster.clock):
            log.warning("%s: dropped a %r message from %s (only the clock sends those)", self.jid, kind, sender)
        elif kind == "start":
            self.current = json.loads(msg.body)
            self.lost.update(self.current.get("lost", ()))
            await self._maybe_step()
        elif kind == "lost":
            await self._on_lost(json.loads(msg.body))
        elif kind == "welcome":
            self.welcomed.set()
        elif kind == "stop":
            self.stopped.set()

    async def _on_data(self, sender: str, msg: SpadeMessage) -> None:
        try:
            m = Message.from_json(msg.body)
        except (ValueError, TypeError):
            log.warning("%s: dropped a malformed data message from %s", self.jid, sender)
            return
        if m.sender != self.roster.by_jid.get(sender) or m.receiver != self.logic.name:
            log.warning("%s: dropped a data message from %s claiming to be %s to %s", self.jid, sender, m.sender,
                        m.receiver)
            return
        for key in (GRANT, WORK):
            value = msg.get_metadata(key)
            if value:
                m.meta[key] = value
        self.pending.setdefault((m.tick, m.round + 1), []).append(m)
        await self._maybe_step()

    async def _maybe_step(self) -> None:
        cur = self.current
        if cur is None:
            return
        key = (cur["tick"], cur["round"])
        got = [m for m in self.pending.get(key, []) if m.sender not in self.lost]
        if len(got) < cur["expect"]:
            return
        self.pending.pop(key, None)
        for old in [k for k in self.pending if k < key]:
            del self.pending[old]  # leftovers of a lost sender
        self.current = None
        if len(got) != cur["expect"]:
            raise RuntimeError(f"{self.logic.name}: expected {cur['expect']} messages in round {cur['round']}, "
                               f"got {len(got)}")
        inbox = sorted(got, key=lambda m: m.order)
        agent = self.logic
        ctx = Context(agent.name, cur["tick"], cur["round"], cur["t"], agent.seq)
        if self.human_wait > 0 or getattr(agent, "blocking", False):  # waits on a human or a model server:
            await asyncio.get_running_loop().run_in_executor(None, agent.step, ctx, inbox)  # off the loop
        else:
            agent.step(ctx, inbox)
        agent.seq = ctx.seq
        await self._report(ctx, cur["tick"], cur["round"])

    def dispatch(self, msg: SpadeMessage):
        """The human's answers bypass the mailbox: it is busy waiting for them while the step asks."""
        if self.human_wait > 0 and bare(msg.sender) == bare(self.roster.human):
            self._on_human(msg.body or "")
            return []
        return super().dispatch(msg)

    def _on_human(self, text: str) -> None:
        from opstwin.agents.xmpp.human import parse_reply

        reply = parse_reply(text)
        fut = self.answers.get(reply[1]) if reply else None
        if fut is None or fut.done():
            log.warning("%s: ignored a message from the human: %r", self.jid, text[:80])
            return
        fut.set_result(reply[0])

    def _ask_human(self, a) -> str | None:
        """Called from the step thread: send the request as chat, wait for `approve|deny <task>`."""
        from opstwin.agents.xmpp.human import approval_text

        fut: concurrent.futures.Future = concurrent.futures.Future()
        self.answers[a.task] = fut
        text = approval_text(a.task, a.action, a.target, self.human_wait)
        try:
            asyncio.run_coroutine_threadsafe(
                self.send(spade_message(bare(self.roster.human), text, {"ot": "human", "kind": "approval"})),
                self.loop).result(5)
            return fut.result(self.human_wait)
        except concurrent.futures.TimeoutError:
            return None
        finally:
            self.answers.pop(a.task, None)

    async def _on_lost(self, info: dict[str, Any]) -> None:
        self.lost.update(info["names"])
        agent = self.logic
        ctx = Context(agent.name, info["tick"], info["round"], info["t"], agent.seq)
        tell_lost(agent, ctx, info["names"], set(info.get("specialists", info["names"])))
        agent.seq = ctx.seq
        await self._report(ctx, info["tick"], info["round"], lost=True)

    async def _report(self, ctx: Context, tick: int, round_: int, lost: bool = False) -> None:
        for m in ctx.outbox:
            to = self.roster.jids.get(m.receiver)
            if to is not None:
                if m.receiver not in self.lost:
                    await self.send(data_message(m, to))
            elif "@" in m.receiver and self.roster.human and bare(m.receiver) == bare(self.roster.human):
                text = self.human_text(m) if self.human_text else m.to_json()
                await self.send(spade_message(m.receiver, text, {"ot": "human", "kind": m.kind}))
        done = {"agent": self.logic.name, "tick": tick, "round": round_, "lost": lost,
                "outbox": [m.to_json() for m in ctx.outbox], "events": ctx.events, "wakes": ctx.wakes}
        await self.send(spade_message(self.roster.clock, dumps(done), {"ot": "done"}))
