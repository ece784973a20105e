"""The same team over a real Prosody (Debian package) on loopback, in 3 processes.

Marked slow; CI installs prosody (.ci/run). Skipped, saying why, only where prosody is not
installed and cannot be.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from opstwin.scenarios.loader import load
from opstwin.engine.runner import run
from xmpp_helpers import SCENARIO, children

pytestmark = pytest.mark.slow
OPSTWIN = str(Path(sys.executable).parent / "opstwin")


def ensure_prosody() -> None:
    if shutil.which("prosody"):
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run("apt-get update -qq && apt-get install -y -qq prosody", shell=True, env=env,
                       capture_output=True, timeout=600)
    if not shutil.which("prosody"):
        pytest.skip("prosody is not installed and could not be installed (apt-get install prosody)")


@pytest.fixture(scope="module")
def prosody():
    ensure_prosody()
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


def test_login_refused_is_one_line_and_exit_2(tmp_path):
    ensure_prosody()
    from prosody import ProsodyServer

    with ProsodyServer(registration=False) as closed:
        out = tmp_path / "out"
        proc = subprocess.run([OPSTWIN, "run", str(SCENARIO), "--xmpp", closed.address, "-q", "--out", str(out)],
                              capture_output=True, text=True, timeout=180)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "refused the login" in lines[0], proc.stderr
    assert not (out / "incidents.jsonl").exists()
