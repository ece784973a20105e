"""A run that loses part of its team says so: killing the agents process that hosts the diagnoser,
coordinator and guard, or the XMPP server, mid-run ends the run there with a one-line error and a
non-zero exit, and summary.json lists ``agents_lost`` (who, when, why) and the faults left
unhandled. Join files are private, removed at the end, and a killed run's are removed by the next."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from opstwin.agents.xmpp.server import XmppError
from opstwin.engine.runner import run
from opstwin.scenarios.loader import load
from xmpp_helpers import SCENARIO, kill_agents_process

pytestmark = pytest.mark.slow  # SPADE agents in other OS processes

OPSTWIN = str(Path(sys.executable).parent / "opstwin")


def test_killing_the_core_agents_process_ends_the_run_with_what_was_lost(monkeypatch, tmp_path, no_leftovers):
    """3 processes: twin | diagnoser, coordinator, guard | specialists."""
    progress, killed = kill_agents_process(monkeypatch, "guard", tick=30)

    scenario = load(SCENARIO)
    with pytest.raises(XmppError, match=r"lost coordinator, diagnoser, guard at t=.*agents process 1 exited"):
        run(scenario, seed=2, agents=True, transport="spade", processes=3, progress=progress, out=tmp_path,
            transport_options={"round_timeout": 30.0})
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert not summary["completed"] and summary["ticks"] < scenario.ticks
    assert {e["agent"] for e in summary["agents_lost"]} == {"coordinator", "diagnoser", "guard"}
    assert all("killed by signal 9" in e["reason"] and e["t"] > 0 for e in summary["agents_lost"])
    assert {f["fault_id"] for f in summary["unhandled"]} == {f["id"] for f in summary["faults"] if not f["mitigated"]}
    last = json.loads((tmp_path / "incidents.jsonl").read_text().splitlines()[-1])
    assert last["kind"] == "run_aborted"


def server_pid(parent: int) -> int | None:
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) != parent:
                continue
            if b"opstwin.agents.xmpp.server" in (d / "cmdline").read_bytes():
                return int(d.name)
        except (OSError, ValueError, IndexError):
            continue
    return None


def group_alive(pgid: int) -> bool:
    """Whether a live (not zombie) process is left in process group `pgid`."""
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                return True
    return False


def test_killing_the_xmpp_server_mid_run_is_one_line_and_a_non_zero_exit(tmp_path, no_leftovers):
    out = tmp_path / "out"
    proc = subprocess.Popen([OPSTWIN, "run", str(SCENARIO), "--seed", "2", "--processes", "2", "-q", "--out", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        log = out / "incidents.jsonl"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if log.exists() and log.read_text().count('"kind":"msg"') >= 20:
                break
            time.sleep(0.05)
        pid = server_pid(proc.pid)
        assert pid is not None and proc.poll() is None, "the run ended before the server could be killed"
        os.kill(pid, signal.SIGKILL)
        code = proc.wait(120)
        err = proc.stderr.read()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    assert code != 0
    deadline = time.monotonic() + 10  # nothing the server forked outlives the run (it led its own group)
    while time.monotonic() < deadline and group_alive(pid):
        time.sleep(0.1)
    assert not group_alive(pid), "processes of the killed server's group outlived the run"
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "the embedded XMPP server exited" in lines[0] and "Traceback" not in err, err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["agents_lost"] and not summary["completed"]
    assert {"coordinator", "diagnoser", "guard"} <= {e["agent"] for e in summary["agents_lost"]}
    assert "unhandled" in summary


def test_join_files_are_private_and_a_killed_runs_are_removed_by_the_next(tmp_path, no_leftovers):
    join = tmp_path / "join.json"
    join.write_text("{}")
    join.chmod(0o644)  # a path that exists, readable by all
    proc = subprocess.Popen([OPSTWIN, "run", str(SCENARIO), "--seed", "2", "--remote", "specialist", "--join",
                             str(join), "-q", "--out", str(tmp_path / "out")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None and join.read_text() == "{}":
            time.sleep(0.1)
        assert "passwords" in join.read_text()
        assert stat.S_IMODE(join.stat().st_mode) == 0o600
        data = json.loads(join.read_text())
        assert set(data["passwords"]) == {s.name for s in load(SCENARIO).agents.specialists}  # theirs only
        assert "grant_key" not in data
        folders = sorted(Path("/tmp").glob(f"opstwin-run-{proc.pid}-*"))
        assert folders
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # no cleanup runs
        proc.wait(10)
    time.sleep(0.5)
    assert join.exists()  # left behind by the killed run...
    from opstwin.agents.xmpp.files import clean_stale

    rerun = subprocess.run([OPSTWIN, "run", str(SCENARIO), "--seed", "2", "--processes", "1", "-q",
                            "--out", str(tmp_path / "next")], capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert not join.exists() and not any(f.exists() for f in folders)  # ...and removed by the next start
    assert clean_stale() == []
