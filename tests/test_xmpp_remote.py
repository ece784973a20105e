"""A team spanning processes started separately: `opstwin run --remote` + `opstwin agents --join`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from opstwin.scenarios.loader import load
from opstwin.engine.runner import run
from xmpp_helpers import SCENARIO

pytestmark = pytest.mark.slow  # SPADE agents in other OS processes

OPSTWIN = str(Path(sys.executable).parent / "opstwin")


def test_specialists_hosted_by_opstwin_agents(tmp_path):
    from opstwin.agents.xmpp.server import EmbeddedServer

    inproc = run(load(SCENARIO), seed=2, agents=True, transport="inproc")["log_sha256"]
    join = tmp_path / "join.json"
    procs = []
    with EmbeddedServer(registration=True) as server:  # as `opstwin xmpp`
        address = f"127.0.0.1:{server.port}"
        try:
            main = subprocess.Popen([OPSTWIN, "run", str(SCENARIO), "--seed", "2", "--xmpp", address, "--remote",
                                     "specialist", "--join", str(join), "-q", "--out", str(tmp_path / "out")],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                    start_new_session=True,
                                    env={**os.environ, "OPSTWIN_XMPP_KEY": server.registration_key})
            procs.append(main)
            deadline = time.monotonic() + 60
            while not join.exists() and time.monotonic() < deadline and main.poll() is None:
                time.sleep(0.1)
            assert join.exists(), main.stderr.read() if main.poll() is not None else "no join file"
            assert oct(join.stat().st_mode & 0o777) == "0o600"
            agents = subprocess.Popen([OPSTWIN, "agents", str(SCENARIO), "--join", str(join), "--roles", "specialist"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                      start_new_session=True)
            procs.append(agents)
            assert main.wait(240) == 0, main.stderr.read()
            assert agents.wait(30) == 0, agents.stderr.read()
            assert not join.exists()  # the run removes its join file when it ends
        finally:
            for p in procs:
                if p.poll() is None:
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait(10)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["log_sha256"] == inproc
