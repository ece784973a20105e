"""The front door: the scenario library by name, --force, Dask as an extra, Ctrl-C, sim time."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from opstwin.scenarios import library
from opstwin.twin.units import format_clock

from conftest import child, ctrl_c
from test_cli import OPSTWIN, SMALL_SCENARIO_LONG

LIBRARY = Path(__file__).resolve().parents[1] / "scenarios"


def test_list_shows_the_library_as_a_table(cli):
    result = cli("list")
    assert result.exit_code == 0, result.output
    for name in ("ehr", "storm", "control-day"):
        assert name in result.stdout
    assert "Healthcare records platform" in result.stdout  # the description field
    assert "120" in result.stdout  # storm's generated services


def test_list_json_has_one_entry_per_library_file(cli):
    result = cli("list", "--json")
    assert result.exit_code == 0
    entries = {e["name"]: e for e in json.loads(result.stdout)}
    assert set(entries) == {p.stem for p in [*LIBRARY.glob("*.yaml"), *LIBRARY.glob("*/*.yaml")]}
    ehr = entries["ehr"]
    assert ehr["services"] == 7 and ehr["duration"] == "8h" and ehr["faults"] == "2 scheduled"
    assert entries["control-day"]["faults"] == "none" and entries["control-day"]["duration"] == "1d"
    assert Path(ehr["file"]).resolve() == (LIBRARY / "ehr.yaml").resolve()


def test_the_library_is_found_through_the_installed_package():
    assert (library.folder() / "ehr.yaml").is_file()
    assert library.resolve("ehr") == library.files()["ehr"]
    assert library.resolve("ehr.yaml") == library.files()["ehr"]


def test_a_path_that_exists_wins_over_a_library_name(cli):
    mine = cli.write("ehr", SMALL_SCENARIO_LONG)  # a file named like a library scenario
    with_cwd = cli.folder / "ehr"
    assert library.resolve(with_cwd) == with_cwd == mine


def test_validate_and_run_take_a_library_name(cli):
    result = cli("validate", "ehr")
    assert result.exit_code == 0 and result.stdout.strip().endswith("ehr.yaml: ok")
    result = cli("run", "control-day", "--no-agents", "-q", "--seed", "2", "--out", cli.folder / "out")
    assert result.exit_code == 0, result.output
    assert json.loads((cli.folder / "out" / "summary.json").read_text())["scenario"] == "control-day"


def test_an_unknown_name_is_one_line_naming_what_was_looked_for_and_close_names(cli):
    result = cli("run", "ehrr", "--no-agents")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("opstwin: ehrr: no such file, and no library scenario")
    assert str(library.folder()) in lines[0] and "did you mean ehr?" in lines[0]


@pytest.mark.parametrize("command", ["run", "eval"])
def test_out_into_a_non_empty_folder_refuses_unless_force(cli, small_scenario, command):
    out = cli.folder / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    args = ["run", small_scenario, "--no-agents", "-q"] if command == "run" else \
        ["eval", small_scenario, "--seeds", "1", "-q"]
    result = cli(*args, "--out", out)
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"opstwin: --out {out}: folder is not empty; pick another or add --force to write over it"]
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    result = cli(*args, "--out", out, "--force")
    assert result.exit_code == 0, result.output
    assert (out / "keep.txt").exists() and len(list(out.iterdir())) > 1


def test_a_previous_run_is_rewritten_but_anything_else_in_its_folder_is_kept(cli, small_scenario):
    assert cli("run", small_scenario, "--no-agents", "-q").exit_code == 0
    assert cli("run", small_scenario, "--no-agents", "-q").exit_code == 0  # only its own files: rerun over them
    (cli.folder / "runs/small-3/notes.md").write_text("mine")
    again = cli("run", small_scenario, "--no-agents", "-q")
    assert again.exit_code == 2 and "runs/small-3" in again.stderr and "--force" in again.stderr
    assert cli("run", small_scenario, "--no-agents", "-q", "--force").exit_code == 0


def test_eval_dask_without_dask_installed_says_how_to_get_it(cli, small_scenario, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    result = cli("eval", small_scenario, "--seeds", "1", "--out", cli.folder / "X", "--dask", "127.0.0.1:1")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        'opstwin: --dask needs Dask, an optional extra: pip install "opstwin[dask]"']
    assert not (cli.folder / "X").exists()


@pytest.mark.slow  # waits out the connect timeout
def test_eval_on_a_dead_scheduler_is_bad_input_and_writes_nothing(tmp_path):
    pytest.importorskip("distributed")
    out = tmp_path / "X"
    proc = subprocess.run([OPSTWIN, "eval", "ehr", "--seeds", "1", "--out", str(out), "--dask", "127.0.0.1:1"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("opstwin: --dask 127.0.0.1:1: cannot reach the Dask scheduler")
    assert not out.exists()


def test_ctrl_c_during_a_run_exits_130_and_keeps_the_log(tmp_path):
    scenario = tmp_path / "long.yaml"
    scenario.write_text(SMALL_SCENARIO_LONG)
    out = tmp_path / "out"
    with child([OPSTWIN, "run", str(scenario), "--no-agents", "--out", str(out)]) as proc:
        assert proc.stderr.readline().startswith("running long seed 3")
        deadline = time.monotonic() + 60
        while not (out / "incidents.jsonl").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)  # well inside the run loop
        ctrl_c(proc)
    events = [json.loads(line) for line in (out / "incidents.jsonl").read_text().splitlines()]
    assert events[0]["kind"] == "run_started" and events[-1]["kind"] == "run_aborted"


@pytest.mark.parametrize("seconds, text", [(0, "0s"), (45, "45s"), (125, "2m5s"), (3600, "1h"), (7980, "2h13m"),
                                           (8640, "2h24m"), (86400, "1d"), (93600, "1d2h"), (59.9, "59s")])
def test_sim_time_has_one_format(seconds, text):
    assert format_clock(seconds) == text


def test_the_starting_line_says_what_comes_up_before_the_first_tick():
    from opstwin.cli.progress import starting_line
    from opstwin.scenarios.loader import load

    ehr = load(library.resolve("ehr"))
    assert starting_line(ehr, 1, agents=True, transport="inproc", processes=1, xmpp=None) == "running ehr seed 1 (inproc)"
    assert starting_line(ehr, 1, agents=True, transport="spade", processes=1, xmpp=None) == \
        "running ehr seed 1: starting the embedded XMPP server and 9 agents…"
    assert starting_line(ehr, 2, agents=True, transport="spade", processes=3, xmpp="127.0.0.1:5222") == \
        "running ehr seed 2: connecting to the XMPP server at 127.0.0.1:5222 and 9 agents in 3 processes…"


def test_bench_xmpp_defaults_to_a_library_scenario_that_exists():
    from opstwin.bench.xmpp import default_scenario

    path = default_scenario()
    assert path.is_file() and path.name == "storm.yaml"
