"""SpadeTransport: the superstep rounds of :class:`agents.bus.Clock` carried over XMPP.

The twin's process hosts a clock agent and the twin-side agents (monitors, ``control``); the
other agents run in the same process (``processes=1``: SPADE's Container delivers between
them without the server) or in worker processes (``processes=N``: every message between
processes crosses the XMPP server). A round: the clock sends each agent of the round a round
start with the number of data messages it must receive; each agent steps when its inbox is
complete, sends its outbox straight to the receivers and a round done (its report) to the
clock. The clock returns the reports to :class:`agents.bus.Clock`, which logs them exactly as
it logs :class:`agents.bus.InProcTransport`'s, so the incident log is byte-identical.

Placement (``processes=N``, deterministic): process 0 (the twin's) holds the clock, monitors
and ``control``; with N=2 the other agents share process 1; with N>=3 process 1 holds
diagnoser, coordinator and guard, and the specialists go round-robin (sorted by name) over
processes 2..N-1.

Lost agents: an agent whose agents process has exited, or whose round done does not come within
``round_timeout`` wall seconds, is lost (an ``agent_lost`` event in the incident log). A lost
specialist or monitor is survivable: the coordinator and the guard are told (the coordinator
re-auctions the work, the guard stops waiting for that monitor's SLI) and the run goes on. A lost
diagnoser, coordinator, guard or ``control`` (or baseline), or the embedded XMPP server exiting
while agents live in other processes, is not: the transport sets :attr:`SpadeTransport.fatal`
and the engine ends the run there with that one-line error; either way ``summary.json`` lists
``agents_lost`` and the faults left unhandled. Wall time is used for nothing else. A diagnoser
that reasons with a local model waits on it: its rounds get the reasoner's worst case on top of the
deadline (a call's timeout times its calls per round), and its step runs off the event loop.

Credentials and identity: a fresh run token in every JID (pyjabber drops messages to JIDs that
reconnect) and a random password per agent per run. On the embedded server the run creates
every account (agents, clock, and the scenario's human operator, whose password is printed once
unless given as ``human_password`` / ``OPSTWIN_HUMAN_PASSWORD``) and nobody can register; on an
external server the run creates every account before any agent logs in (in-band with the key
``opstwin xmpp`` prints, ``OPSTWIN_XMPP_KEY``, or through a provisioning command,
``OPSTWIN_XMPP_ADDUSER``: :mod:`agents.xmpp.accounts`), and the human's account must be new (it is
created with a fresh password) unless its password is given. Each worker process gets a join file (0600)
with its own agents' passwords only, and the guard's the grant key it shares with ``control``
(:mod:`agents.approvals`); join files and the run's folder are removed when the run ends, and
those of a run that was killed are removed when the next one starts.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from opstwin.agents import address
from opstwin.agents.bus import TOLD, Report
from opstwin.agents.messages import Message
from opstwin.agents.spec import AgentsSpec
from opstwin.agents.team import TWIN_SIDE
from opstwin.agents.xmpp.files import clean_stale, note_owned, private_dir, write_private
from opstwin.agents.xmpp.worker import join_data
from opstwin.agents.xmpp.server import EmbeddedServer, XmppError, kill_group
from opstwin.agents.xmpp.wrapper import (LogicHost, Roster, XmppAgent, bare, dumps, parts, spade_message,
                                         start_agent)
from opstwin.twin.spec import TopologySpec

log = logging.getLogger("opstwin.xmpp")
CORE = ("diagnoser", "coordinator", "guard")
SURVIVABLE = ("specialist", "monitor")  # roles the team can lose and carry on (re-auction; fewer SLI answers)
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def parse_address(text: str) -> tuple[str, int]:
    """``HOST[:PORT]`` or ``[IPv6]:PORT`` -> (host, port); the port defaults to 5222."""
    try:
        return address.parse_address(text)
    except ValueError as e:
        raise XmppError(str(e)) from None


def domain_for(host: str) -> str:
    return "localhost" if host in LOOPBACK else host


def check_reachable(host: str, port: int, timeout: float = 3.0) -> None:
    """Raise XmppError unless something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return
    except OSError as exc:
        raise XmppError(f"no XMPP server at {host}:{port} ({exc.strerror or exc})") from None


def placement(agents: dict[str, str], processes: int) -> dict[str, int]:
    """Agent name -> process index (0 is the twin's), from names and roles only."""
    out: dict[str, int] = {}
    specialists = sorted(n for n, role in agents.items() if role == "specialist")
    for name, role in sorted(agents.items()):
        if role in TWIN_SIDE or processes <= 1:
            out[name] = 0
        elif processes == 2 or role != "specialist":
            out[name] = 1
    if processes >= 3:
        for i, name in enumerate(specialists):
            out[name] = 2 + i % (processes - 2)
    return out


class ClockAgent(XmppAgent):
    """The clock's end of the protocol: collects hellos and round dones."""

    def __init__(self, *args, **kw) -> None:
        super().__init__(*args, **kw)
        self.hellos: set[str] = set()
        self.hello_event = asyncio.Event()
        self.need: set[str] = set()
        self.round: tuple[int, int, bool] | None = None
        self.waiting: set[str] = set()
        self.reports: dict[str, dict[str, Any]] = {}
        self.done = asyncio.Event()

    def begin(self, tick: int, round_: int, names: set[str], lost: bool = False) -> None:
        self.round = (tick, round_, lost)
        self.waiting = set(names)
        self.reports = {}
        self.done = asyncio.Event()
        if not self.waiting:
            self.done.set()

    async def handle(self, msg) -> None:
        sender = self.accept(msg)
        if sender is None:
            return
        name = self.roster.by_jid.get(sender)
        kind = msg.get_metadata("ot")
        if name is None:
            log.warning("clock: dropped a %r message from %s", kind, sender)
        elif kind == "hello":
            self.hellos.add(name)
            await self.send(spade_message(self.roster.jids[name], dumps({"agent": name}), {"ot": "welcome"}))
            if self.need <= self.hellos:
                self.hello_event.set()
        elif kind == "done":
            d = json.loads(msg.body)
            if d.get("agent") != name or self.round != (d["tick"], d["round"], d["lost"]) or name not in self.waiting:
                log.warning("clock: dropped an unexpected round done from %s", sender)
                return
            self.waiting.discard(name)
            self.reports[name] = d
            if not self.waiting:
                self.done.set()


def _exit_text(code: int) -> str:
    return f"killed by signal {-code}" if code < 0 else f"exit code {code}"


def to_report(d: dict[str, Any]) -> Report:
    return Report(d["agent"], [Message.from_json(s) for s in d["outbox"]], d["events"], d["wakes"])


class SpadeTransport:
    """A :class:`agents.bus.Transport` over XMPP (see the module docstring)."""

    def __init__(self, agents: list, spec: AgentsSpec, topology: TopologySpec, tick: float, seed: int, *, processes: int = 1, xmpp: str | None = None,
                 round_timeout: float = 30.0, start_timeout: float = 90.0, remote: list[str] | None = None,
                 join_file: Path | None = None, say=None, stats: dict[str, Any] | None = None,
                 human_wait: float = 0.0, human_password: str | None = None) -> None:
        self.logic = {a.name: a for a in agents}
        self.roles = {a.name: a.role for a in agents}
        self.spec, self.topology, self.tick, self.seed = spec, topology, float(tick), seed
        self.processes = max(1, int(processes))
        self.round_timeout, self.start_timeout = round_timeout, (max(start_timeout, 600.0) if remote else start_timeout)
        self.say = say or (lambda s: None)
        self.place = placement(self.roles, self.processes)
        if remote:  # agents (names or roles) hosted by `opstwin agents` elsewhere: process index -1
            self.place.update({n: -1 for n, role in self.roles.items() if n in remote or role in remote})
        self.server: EmbeddedServer | None = None
        self.xmpp = xmpp
        self.workers: list[subprocess.Popen] = []
        self.lost: set[str] = set()
        self.local: dict[str, XmppAgent] = {}
        self.greetings: list[asyncio.Future] = []  # local agents' hellos until the clock answers
        self.clock: ClockAgent | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: threading.Thread | None = None
        clean_stale()  # folders and join files of runs that were killed (SIGKILL runs no cleanup)
        self.tmp = private_dir("opstwin-run")
        self.join_file = Path(join_file) if join_file else self.tmp / "join.json"
        self.wrote_join = False
        self.human_password = human_password or os.environ.get("OPSTWIN_HUMAN_PASSWORD") or None
        self.fatal: XmppError | None = None  # set when the run lost what it cannot go on without
        self.stats = stats if stats is not None else {}
        self.human_wait = human_wait  # > 0: attended; wall seconds to wait for the human's approve/deny
        self.rounds = 0
        self.round_seconds = 0.0
        self.stanzas = 0  # protocol stanzas (round start, round done, lost) the clock sent or received
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------ start
    def _start(self) -> None:
        for noisy in ("slixmpp", "spade", "SPADE", "spade.Agent"):  # their chatter is ours to report
            if logging.getLogger(noisy).level == logging.NOTSET:
                logging.getLogger(noisy).setLevel(logging.CRITICAL)
        host, port = parse_address(self.xmpp) if self.xmpp else ("127.0.0.1", 0)
        domain = domain_for(host)
        token = secrets.token_hex(8)
        human = self.spec.guard.approval.human
        if human and not bare(human):
            raise XmppError(f"agents.guard.approval.human: {human!r} is not a JID (name@domain)")
        jids = {n: f"{n}.{token}@{domain}" for n in self.logic}
        self.roster = Roster(jids, f"clock.{token}@{domain}", human)
        self.passwords = {n: secrets.token_urlsafe(16) for n in [*self.logic, "clock"]}
        self.register = False  # agents only log in: the run makes every account before (see _make_accounts)
        human_new = bool(human) and not self.human_password
        if human_new:
            self.human_password = secrets.token_urlsafe(12)
        if self.xmpp:
            check_reachable(host, port)
        else:
            accounts = {parts(j)[0]: self.passwords[n] for n, j in {**jids, "clock": self.roster.clock}.items()}
            if human and parts(human)[1] == domain:
                accounts[parts(human)[0]] = self.human_password
            self.server = EmbeddedServer(accounts=accounts).start()
            host, port = self.server.host, self.server.port
        self.address = (host, port)
        if self.xmpp:
            self._make_accounts(human if human and human_new and parts(human)[1] == domain else None)
        if human and human_new and (self.xmpp or parts(human)[1] == domain):
            self.say(f"human operator {bare(human)} on the XMPP server {host}:{port}: password {self.human_password} "
                     "(shown once)")
        self._write_joins()
        for k in sorted({p for p in self.place.values() if p > 0}):
            self._spawn_worker(k)  # forked before this process starts any thread of its own
        if any(p < 0 for p in self.place.values()):
            away = sorted(n for n, p in self.place.items() if p < 0)
            self.say(f"waiting for {', '.join(away)}: run `opstwin agents FILE --join {self.join_file} --roles ...`")
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="xmpp-loop", daemon=True)
        self.thread.start()
        t0 = time.perf_counter()  # clock-ok: startup timing, reported only
        self._call(self._start_local(), self.start_timeout)
        t1 = time.perf_counter()  # clock-ok
        self._call(self._await_hellos(), self.start_timeout + 5)
        t2 = time.perf_counter()  # clock-ok
        log.info("xmpp startup: local logins %.2fs, remote agents online %.2fs later", t1 - t0, t2 - t1)

    def _make_accounts(self, human: str | None) -> None:
        """External server: create every agent's account (and the human's, with a fresh password, when
        `human` is given) before anyone logs in (:mod:`agents.xmpp.accounts`: in-band with the
        server's registration key, or the provisioning command). Refuse to run if one exists: the run
        token makes agents' names new, so somebody took it, and a taken human account would decide
        the approvals."""
        from opstwin.agents.xmpp.accounts import create_accounts

        accounts = {j: self.passwords[n] for n, j in {**self.roster.jids, "clock": self.roster.clock}.items()}
        if human:
            accounts[bare(human)] = self.human_password
        taken = create_accounts(self.address, accounts)
        where = f"{self.address[0]}:{self.address[1]}"
        if human and bare(human) in taken:
            raise XmppError(f"the human operator's account {bare(human)} already exists on {where}: give its password "
                            "in OPSTWIN_HUMAN_PASSWORD if it is yours")
        if taken:
            raise XmppError(f"{len(taken)} agent account(s) could not be created on {where} ({taken[0]} exists, or the "
                            "server takes no registration: set OPSTWIN_XMPP_KEY, or OPSTWIN_XMPP_ADDUSER to provision)")

    def _join(self, names: list[str]) -> dict[str, Any]:
        """A join file's data for a process hosting `names`: their passwords only, and the grant key if
        it hosts the guard."""
        data = {
            **join_data(self.spec, self.topology, self.tick), "seed": self.seed, "register": self.register,
            "address": list(self.address), "clock": self.roster.clock, "jids": self.roster.jids,
            "human": self.roster.human, "human_wait": self.human_wait,
            "passwords": {n: self.passwords[n] for n in names},
        }
        guard = self.logic.get("guard")
        if "guard" in names and guard is not None and getattr(guard, "grants", None) is not None:
            data["grant_key"] = guard.grants.key.hex()
        return data

    def _write_joins(self) -> None:
        note_owned(self.tmp, self.join_file)  # a killed run's join file is removed by the next start
        for k in sorted({p for p in self.place.values() if p > 0}):
            names = sorted(n for n, p in self.place.items() if p == k)
            write_private(self.tmp / f"worker-{k}.json", json.dumps(self._join(names)))
        away = sorted(n for n, p in self.place.items() if p < 0)
        if away:
            write_private(self.join_file, json.dumps(self._join(away)))
            self.wrote_join = True

    def _call(self, coro, timeout: float | None):
        fut = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return fut.result(timeout)
        except TimeoutError:
            fut.cancel()
            raise

    async def _start_local(self) -> None:
        from spade.container import Container

        Container().reset()  # the Container's loop becomes this one; drops agents of earlier runs
        self.clock = ClockAgent(self.roster.clock, self.passwords["clock"], self.roster, self.address, self.register)
        mine = [n for n in sorted(self.logic) if self.place[n] == 0]
        from opstwin.agents.xmpp.human import chat_text

        for n in mine:
            self.local[n] = LogicHost(self.roster.jids[n], self.passwords[n], self.roster, self.address,
                                      self.logic[n], human_text=chat_text, human_wait=self.human_wait,
                                      register=self.register)
        self.clock.need = set(self.logic)
        await self._login(self.clock)
        await asyncio.gather(*(self._login(a) for a in self.local.values()))
        self.greetings = [asyncio.ensure_future(self.local[n].say_hello()) for n in mine]

    async def _login(self, agent: XmppAgent) -> None:
        try:
            await start_agent(agent)
        except ConnectionRefusedError as exc:
            raise XmppError(str(exc)) from None
        except TimeoutError as exc:
            raise XmppError(str(exc)) from None

    def _spawn_worker(self, k: int) -> None:
        from opstwin.agents.xmpp.worker import Forked

        names = sorted(n for n, p in self.place.items() if p == k)
        proc = Forked(self.tmp / f"worker-{k}.json", names, self.tmp / f"worker-{k}.err")
        proc.opstwin_names = names  # type: ignore[attr-defined]
        proc.opstwin_index = k  # type: ignore[attr-defined]
        self.workers.append(proc)

    async def _await_hellos(self) -> None:
        deadline = time.monotonic() + self.start_timeout  # clock-ok: detects a dead start only
        while not self.clock.hello_event.is_set():
            for proc in self.workers:
                if proc.poll() is not None:
                    err = self.tmp / f"worker-{proc.opstwin_index}.err"
                    text = err.read_text().strip().splitlines() if err.exists() else []
                    raise XmppError(f"agents process {proc.opstwin_index} ({','.join(proc.opstwin_names)}) exited: "
                                    f"{text[-1] if text else 'no message'}")
            if time.monotonic() > deadline:  # clock-ok
                missing = sorted(self.clock.need - self.clock.hellos)
                raise XmppError(f"agents did not come online within {self.start_timeout:.0f}s: {', '.join(missing)}")
            try:
                await asyncio.wait_for(self.clock.hello_event.wait(), 0.2)
            except asyncio.TimeoutError:
                pass

    # ------------------------------------------------------------ rounds
    def run_round(self, tick, round_, t, expected):
        started = time.perf_counter()  # clock-ok: reported only
        reports = self._call(self._round(tick, round_, float(t), dict(expected)), None)
        self.rounds += 1
        self.round_seconds += time.perf_counter() - started  # clock-ok
        self.stanzas += 2 * len([n for n in expected if n not in self.lost])
        self.stats.update(rounds=self.rounds, round_seconds=self.round_seconds, stanzas=self.stanzas,
                          lost=sorted(self.lost))
        return reports

    async def _round(self, tick: int, round_: int, t: float, expected: dict[str, int]) -> list[Report]:
        names = sorted(n for n in expected if n not in self.lost)
        clock = self.clock
        clock.begin(tick, round_, set(names))
        lost = sorted(self.lost)
        for n in names:
            body = dumps({"tick": tick, "round": round_, "t": t, "expect": expected[n], "lost": lost})
            await clock.send(spade_message(self.roster.jids[n], body, {"ot": "start"}))
        gone = await self._wait(clock, self._allowance(names))
        missing = sorted(clock.waiting)
        reports = [to_report(clock.reports[n]) for n in names if n in clock.reports]
        if not missing and not gone:
            return reports
        newly: dict[str, str] = {n: f"no round done within {self.round_timeout + self._allowance([n]):g}s"
                                 for n in missing}
        newly.update({n: why for n, why in gone.items() if n not in self.lost})
        fatal = sorted(n for n in newly if self.roles[n] not in SURVIVABLE)
        for n in sorted(newly):
            self.lost.add(n)  # a fatal loss is said once, in the run's one-line error
            log.log(logging.INFO if fatal else logging.WARNING, "agent %s lost: %s", n, newly[n])
            reports.append(Report(n, events=[{"t": t, "kind": "agent_lost", "agent": n, "tick": tick, "round": round_,
                                              "reason": newly[n]}]))
        if fatal and self.fatal is None:
            why = sorted({newly[n] for n in fatal})
            also = sorted(set(newly) - set(fatal))
            self.fatal = XmppError(f"lost {', '.join(fatal)} at t={t:g}s (tick {tick}): {'; '.join(why)}; "
                                   + (f"also lost {', '.join(also)}; " if also else "")
                                   + "the run cannot go on without them (summary.json lists what was not handled)")
        if self.fatal is None:
            reports += await self._tell_lost(tick, round_, t, sorted(newly))
        return reports

    def lose(self, tick, round_, t, names):
        """A scenario's crash: `names` get no more rounds; the coordinator and the guard are told."""
        self.lost.update(names)
        self.stats.update(lost=sorted(self.lost))
        return self._call(self._tell_lost(tick, round_, t, sorted(names)), None)

    def _allowance(self, names: list[str]) -> float:
        """Extra wall seconds for a round with a diagnoser that asks a local model: as many calls as it may
        make in a round, each up to its timeout (else a slow model would get it declared lost)."""
        r = self.spec.diagnoser.reasoner
        if r.backend == "rules" or not any(self.roles.get(n) == "diagnoser" for n in names):
            return 0.0
        return float(r.timeout) * r.max_calls_per_step

    async def _wait(self, clock: ClockAgent, extra: float = 0.0) -> dict[str, str]:
        """Wait for the round's dones, at most round_timeout (+ `extra`); returns agents known gone meanwhile
        (name -> why): those of an agents process that exited, or all agents away from this process if the
        embedded server exited (their messages went through it)."""
        deadline = time.monotonic() + self.round_timeout + extra  # clock-ok: detects a dead agent only
        gone: dict[str, str] = {}
        while True:
            gone = self._gone()
            dead = set(clock.waiting) & set(gone)
            if dead:  # no need to wait for them; the others may still be working
                clock.waiting -= dead
                if not clock.waiting:
                    clock.done.set()
            try:
                await asyncio.wait_for(clock.done.wait(), min(0.5, max(0.01, deadline - time.monotonic())))  # clock-ok
                return gone
            except asyncio.TimeoutError:
                if time.monotonic() >= deadline:  # clock-ok
                    return gone

    def _gone(self) -> dict[str, str]:
        gone: dict[str, str] = {}
        if self.server is not None and self.server.proc is not None and self.server.proc.poll() is not None:
            why = f"the embedded XMPP server exited (code {self.server.proc.returncode})"
            gone.update({n: why for n, p in self.place.items() if p != 0 and n not in self.lost})
        for proc in self.workers:
            code = proc.poll()
            if code is not None:
                why = f"its agents process {proc.opstwin_index} exited ({_exit_text(code)})"
                gone.update({n: why for n in proc.opstwin_names if n not in self.lost and n not in gone})
        return gone

    async def _tell_lost(self, tick: int, round_: int, t: float, names: list[str]) -> list[Report]:
        """The coordinator (re-auctions) and the guard (stops waiting for a lost monitor) hear of `names`."""
        told = [n for n in TOLD if n in self.logic and n not in self.lost]
        if not told:
            return []
        clock = self.clock
        clock.begin(tick, round_, set(told), lost=True)
        body = dumps({"tick": tick, "round": round_, "t": t, "names": names,
                      "specialists": [n for n in names if self.roles[n] == "specialist"]})
        for n in told:
            await clock.send(spade_message(self.roster.jids[n], body, {"ot": "lost"}))
        try:
            await asyncio.wait_for(clock.done.wait(), self.round_timeout)
        except asyncio.TimeoutError:
            pass
        reports = [to_report(clock.reports[n]) for n in told if n in clock.reports]
        for n in sorted(clock.waiting):
            self.lost.add(n)
            reports.append(Report(n, events=[{"t": t, "kind": "agent_lost", "agent": n, "tick": tick,
                                              "round": round_, "reason": "no answer to a lost notice"}]))
            if self.fatal is None:
                self.fatal = XmppError(f"lost {n} at t={t:g}s (tick {tick}): no answer to a lost notice")
        return reports

    # ------------------------------------------------------------ close
    def close(self) -> None:
        if self.loop is not None and self.loop.is_running():
            try:
                self._call(self._stop_all(), 15)
            except Exception:  # noqa: BLE001 - closing is best effort; processes are killed below
                pass
        for proc in self.workers:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
            kill_group(proc, grace=1)
        self.workers = []
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.loop.stop)
            if self.thread is not None:
                self.thread.join(5)
            self.loop = None
        if self.server is not None:
            self.server.stop()
            self.server = None
        import shutil

        if self.wrote_join:
            self.join_file.unlink(missing_ok=True)
        shutil.rmtree(self.tmp, ignore_errors=True)

    async def _stop_all(self) -> None:
        for g in self.greetings:
            g.cancel()
        if self.clock is not None and self.clock.is_alive():
            for n in sorted(self.logic):
                if self.place.get(n, 0) != 0 and n not in self.lost:
                    await self.clock.send(spade_message(self.roster.jids[n], "{}", {"ot": "stop"}))
        await asyncio.sleep(0.05)
        agents = [a for a in [*self.local.values(), self.clock] if a is not None and a.is_alive()]
        await asyncio.gather(*(asyncio.wait_for(a.stop(), 5) for a in agents), return_exceptions=True)
        from spade.container import Container

        Container().reset()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
