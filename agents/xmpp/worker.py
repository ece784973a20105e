"""An agents process: hosts some of a run's agents (``--processes N`` and ``opstwin agents``).

It reads the run's join file (JIDs, per-run passwords, the XMPP address, the clock's JID, and
what remote agents need of the scenario: its `agents:` section, its topology and tick, as
validated data, plus the seed), rebuilds the agents that need no twin
(:func:`agents.team.remote_agents`) exactly as the twin's process does, so their logic state
starts identical (no scenario loader here: agents do not reach up into the scenario layer),
logs the chosen ones in, says hello to the clock, and serves rounds until the clock says stop
(or, as a child of a run, until the run's process goes away).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from opstwin.agents.xmpp.human import chat_text
from opstwin.agents.xmpp.server import watch_parent
from opstwin.agents.xmpp.wrapper import LogicHost, Roster, start_agent


def join_data(spec, topology, tick: float) -> dict:
    """What remote agents need of a scenario, as JSON-able data for the join file."""
    return {"agents": spec.model_dump(mode="json"), "topology": topology.model_dump(mode="json"), "tick": float(tick)}


def remote_from_join(join: dict) -> list:
    """The agents that need no twin, rebuilt from the join file's validated data."""
    from opstwin.agents.spec import AgentsSpec
    from opstwin.agents.team import remote_agents
    from opstwin.twin.spec import TopologySpec
    from opstwin.twin.topology import Topology

    from opstwin.agents.approvals import Grants

    spec = AgentsSpec.model_validate(join["agents"])
    topo = Topology.build(TopologySpec.model_validate(join["topology"]))
    grants = Grants(bytes.fromhex(join["grant_key"])) if join.get("grant_key") else None  # only the guard's host has it
    return remote_agents(spec, topo, join["seed"], float(join["tick"]), grants)


def build_agents(join: dict, names: list[str]) -> list:
    agents = remote_from_join(join)
    by_name = {a.name: a for a in agents}
    unknown = sorted(set(names) - set(by_name))
    if unknown:
        raise SystemExit(f"not agents of this scenario that can run away from the twin: {', '.join(unknown)}")
    return [by_name[n] for n in names]


def select(join: dict, roles: list[str]) -> list[str]:
    """Agent names from names or roles (``specialist`` means every specialist)."""
    agents = remote_from_join(join)
    return sorted(a.name for a in agents if a.name in roles or a.role in roles)


async def serve(join: dict, names: list[str]) -> None:
    from spade.container import Container

    Container().reset()
    roster = Roster(join["jids"], join["clock"], join.get("human"))
    address = (join["address"][0], int(join["address"][1]))
    hosts = [LogicHost(roster.jids[a.name], join["passwords"][a.name], roster, address, a, human_text=chat_text,
                       human_wait=join.get("human_wait", 0.0), register=bool(join.get("register", True)))
             for a in build_agents(join, names)]
    await asyncio.gather(*(start_agent(h) for h in hosts))
    greetings = [asyncio.ensure_future(h.say_hello()) for h in hosts]
    await asyncio.gather(*(h.stopped.wait() for h in hosts))
    for g in greetings:
        g.cancel()
    await asyncio.gather(*(asyncio.wait_for(h.stop(), 5) for h in hosts), return_exceptions=True)


def run_agents(join_file: Path, roles: list[str], xmpp: str | None = None, say=print) -> None:
    """``opstwin agents``: host the agents named (or of the roles) given, from a run's join file."""
    from opstwin.agents.xmpp.server import XmppError
    from opstwin.agents.xmpp.transport import check_reachable, parse_address

    join = json.loads(Path(join_file).read_text())
    if xmpp:
        join["address"] = list(parse_address(xmpp))
    check_reachable(*join["address"])
    names = select(join, roles)
    if not names:
        raise XmppError(f"no agent of this run has a name or role in {', '.join(roles)}")
    say(f"hosting {', '.join(names)}; waiting for the run to end")
    asyncio.run(serve(join, names))


class Forked:
    """An agents process forked from the run's process (all modules already imported: no start-up cost).

    It leads a process group of its own, so :func:`agents.xmpp.server.kill_group` ends it, and it
    exits by itself when the run's process goes away.
    """

    def __init__(self, join_file: Path, names: list[str], err_file: Path) -> None:
        self.names = names
        self.err_file = err_file
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the child
            code = 0
            try:
                os.setsid()
                threading.Thread(target=_watch_pid, args=(parent,), daemon=True).start()
                join = json.loads(Path(join_file).read_text())
                asyncio.run(serve(join, names))
            except BaseException as exc:  # noqa: BLE001 - one line for the parent to show
                code = 2
                try:
                    fd = os.open(err_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                    os.write(fd, f"{type(exc).__name__}: {exc}\n".encode())
                    os.close(fd)
                except OSError:
                    pass
            finally:
                os._exit(code)
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        import subprocess
        import time

        deadline = None if timeout is None else time.monotonic() + timeout  # clock-ok: process reaping
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:  # clock-ok
                raise subprocess.TimeoutExpired(f"agents process {self.pid}", timeout)
            time.sleep(0.02)
        return self.returncode


def _watch_pid(parent: int) -> None:
    import time

    while os.getppid() == parent:
        time.sleep(0.5)
    os.killpg(os.getpgrp(), signal.SIGKILL)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m agents.xmpp.worker")
    ap.add_argument("--names", required=True)
    ap.add_argument("--join", default=os.environ.get("OPSTWIN_JOIN"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    logging.getLogger("spade").setLevel(logging.CRITICAL)
    logging.getLogger("slixmpp").setLevel(logging.CRITICAL)
    join = json.loads(Path(args.join).read_text())
    threading.Thread(target=watch_parent, daemon=True).start()
    try:
        asyncio.run(serve(join, args.names.split(",")))
    except Exception as exc:  # noqa: BLE001 - one line for the parent to show
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
