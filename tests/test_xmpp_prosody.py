"""The same team over a real Prosody (Debian package) on loopback, in 3 processes.

Marked slow; CI installs prosody (.ci/run). Tests never install system packages: where
`prosody` is not on PATH they are skipped, saying why.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from opstwin.scenarios.loader import load
from opstwin.engine.runner import run
from prosody import available
from xmpp_helpers import SCENARIO, children

OPSTWIN = str(Path(sys.executable).parent / "opstwin")
NO_PROSODY = "prosody or openssl is not on PATH (the tests never install it; .ci/run installs Debian's prosody)"
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not available(), reason=NO_PROSODY)]


@pytest.fixture(scope="module")
def prosody():
    from prosody import ProsodyServer

    server = ProsodyServer().start()
    yield server
    server.stop()


def test_three_processes_over_prosody_same_log_as_inproc(prosody):
    before = set(children())
    scenario = load(SCENARIO)
    a = run(scenario, seed=2, agents=True, transport="inproc")
    b = run(scenario, seed=2, agents=True, transport="spade", processes=3, xmpp=prosody.address)
    assert a["log_sha256"] == b["log_sha256"]
    assert set(children()) - before == set()


def test_on_a_prosody_without_registration_the_run_provisions_its_accounts_with_prosodyctl(monkeypatch):
    """As an administrator runs Prosody: in-band registration off, accounts made with prosodyctl."""
    from prosody import ProsodyServer

    scenario = load(SCENARIO)
    a = run(scenario, seed=2, agents=True, transport="inproc")
    with ProsodyServer(registration=False) as closed:
        monkeypatch.setenv("OPSTWIN_XMPP_ADDUSER", closed.adduser)
        b = run(scenario, seed=2, agents=True, transport="spade", processes=2, xmpp=closed.address)
        accounts = sorted(p.name for p in (closed.dir / "data" / "localhost" / "accounts").iterdir())
    assert a["log_sha256"] == b["log_sha256"]
    assert accounts and all(name.endswith(".dat") for name in accounts)  # made by prosodyctl, on disk


def test_login_refused_is_one_line_and_exit_2(tmp_path):
    from prosody import ProsodyServer

    with ProsodyServer(registration=False) as closed:
        out = tmp_path / "out"
        proc = subprocess.run([OPSTWIN, "run", str(SCENARIO), "--xmpp", closed.address, "-q", "--out", str(out)],
                              capture_output=True, text=True, timeout=180)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "could not be created" in lines[0] and "OPSTWIN_XMPP_ADDUSER" in lines[0], proc.stderr
    assert not (out / "incidents.jsonl").exists()
