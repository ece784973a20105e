"""The run folder and Ctrl-C (issue 12): a read-only --out is one line before the run, a full disk
stops the run with one line and a log that ends on a whole line, Ctrl-C exits 130 everywhere
and an interrupted eval stops its workers at once, keeping every run that finished."""

from __future__ import annotations

import errno
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from opstwin.twin.eventlog import EventLog, LogWriteError

from conftest import child, ctrl_c, sigint_default

OPSTWIN = str(Path(sys.executable).with_name("opstwin"))
LONG = """\
name: {name}
seed: 3
duration: {duration}
tick: 10s
topology:
  hosts:
    - {{name: h1, disks: [{{name: d1, size: 100GB}}]}}
    - {{name: h2}}
  services:
    - {{name: web, host: h1, entry: true, disk: d1, depends_on: [api]}}
    - {{name: api, host: h2, depends_on: [{{service: db, calls: 2}}]}}
    - {{name: db, host: h2}}
load:
  rps: 80
  noise: 0.05
"""


def read_only_folder(tmp_path: Path) -> Path:
    """A folder nobody may write into, root included (sysfs refuses new entries to root too)."""
    if os.geteuid() == 0:
        return Path("/sys/opstwin-test-out/run")
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    return folder / "run"


@pytest.mark.parametrize("command", [["run", "storm", "--transport", "inproc", "-q"],
                                     ["eval", "storm", "--seeds", "1", "-q"]])
def test_a_read_only_out_is_one_line_and_exit_2_before_the_run(cli, tmp_path, command):
    out = read_only_folder(tmp_path)
    result = cli(*command, "--out", out)
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines() == [f"opstwin: --out {out}: cannot write there "
                                                  f"({os.strerror(errno.EPERM if os.geteuid() == 0 else errno.EACCES)})"]


def test_the_out_probe_leaves_nothing_behind(cli, small_scenario):
    result = cli("eval", small_scenario, "--seeds", "1", "--variant", "x=no.such.key=1", "--out", cli.folder / "a/b")
    assert result.exit_code == 2
    assert not (cli.folder / "a").exists()


def test_a_log_on_a_full_device_is_a_clear_error():
    log = EventLog("/dev/full")
    with pytest.raises(LogWriteError) as exc:
        log.emit(0.0, "run_started", scenario="x", seed=1, services=1, hosts=1, duration=1.0, tick=1.0)
    assert exc.value.errno == errno.ENOSPC and "it ends on its last whole line" in str(exc.value)
    log.emit(0.0, "run_aborted", ticks=0)  # the run can still finish in memory
    log.close()


def _file_size_limit(limit: int):
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write over the limit fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_a_full_disk_stops_the_run_with_one_line_and_the_log_ends_on_a_whole_line(tmp_path):
    """A file-size limit (RLIMIT_FSIZE) stands in for the full disk: the kernel writes part of the
    line that crosses it, as a full disk does, then refuses the rest."""
    out = tmp_path / "out"
    proc = subprocess.run([OPSTWIN, "run", "storm", "--transport", "inproc", "-q", "--out", str(out)],
                          capture_output=True, text=True, timeout=300, preexec_fn=_file_size_limit(30_000))
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert lines[0].startswith(f"opstwin: {out / 'incidents.jsonl'}: cannot write the incident log (File too large)")
    text = (out / "incidents.jsonl").read_bytes()
    assert 0 < len(text) <= 30_000 and text.endswith(b"\n")
    events = [json.loads(line) for line in text.splitlines()]
    assert events[0]["kind"] == "run_started"
    # summary.json may still be written with the error (no lost results); the log is what was cut


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found |= {int(c) for c in (task / "children").read_text().split()}
        except OSError:
            pass
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


def _wait_for(predicate, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.2)


@pytest.mark.slow  # two short runs, then two long ones interrupted
def test_ctrl_c_on_eval_stops_the_workers_at_once_and_keeps_every_finished_run(tmp_path):
    (tmp_path / "short.yaml").write_text(LONG.format(name="short", duration="6h"))
    (tmp_path / "long.yaml").write_text(LONG.format(name="long", duration="20d"))
    out = tmp_path / "out"
    workers: set[int] = set()
    proc = subprocess.Popen([OPSTWIN, "eval", "short.yaml", "long.yaml", "--seeds", "2", "-j", "2", "-q",
                             "--out", str(out)], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=sigint_default)
    try:
        stream = out / "results.jsonl"
        _wait_for(lambda: stream.exists() and len(stream.read_text().splitlines()) >= 2, 240)
        workers |= {c for c in _children(proc.pid)
                   if "spawn_main" in Path(f"/proc/{c}/cmdline").read_text(errors="replace")}
        assert workers
        time.sleep(1.0)  # the long runs are under way
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
        left = [w for w in workers if _alive(w)]
        for w in left:  # never leave them running, whatever the outcome
            os.kill(w, signal.SIGKILL)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert not left, "eval workers still running after Ctrl-C"
    results = json.loads((out / "results.json").read_text())
    assert results["interrupted"] is True
    recorded = {(r["scenario"], r["seed"]) for r in results["runs"]}
    finished = {tuple(p.parent.name.rsplit("-", 1)) for p in (out / "runs").glob("*/*/summary.json")}
    assert recorded == {(name, int(seed)) for name, seed in finished}
    assert recorded == {("short", 1), ("short", 2)}


@pytest.mark.parametrize("command", [["bench", "twin", "--services", "2000", "--hours", "2000"],
                                     ["run", "LONG", "--no-agents", "--transport", "inproc", "-q"]])
def test_ctrl_c_exits_130(tmp_path, command):
    (tmp_path / "long.yaml").write_text(LONG.format(name="long", duration="100d"))
    args = [str(tmp_path / "long.yaml") if a == "LONG" else a for a in command]
    with child([OPSTWIN, *args, *(["--out", str(tmp_path / "out")] if "run" in args else [])]) as proc:
        time.sleep(4.0)  # imports done, the loop under way
        ctrl_c(proc)


def test_ctrl_c_stops_the_xmpp_server_with_exit_130(no_leftovers):
    with child([OPSTWIN, "xmpp", "--port", "0"]) as proc:
        assert "XMPP server" in proc.stderr.readline()  # up
        ctrl_c(proc)
