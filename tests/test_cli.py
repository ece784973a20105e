"""The `opstwin` command: help, schema, validate, run and bench, with exit codes 0 and 2."""

import json
import os
import pty
import subprocess
import sys
import threading
from pathlib import Path

import pytest


OPSTWIN = str(Path(sys.executable).with_name("opstwin"))
# a month of a one-service cloud without agents: long enough to interrupt
SMALL_SCENARIO_LONG = """\
name: long
seed: 3
duration: 30d
topology:
  hosts: [{name: h1}]
  services: [{name: web, host: h1, entry: true}]
"""
SUMMARY_KEYS = {"scenario", "seed", "sim_seconds", "wall_seconds", "log_sha256", "health", "metrics"}


def test_help_lists_the_commands(cli):
    result = cli("--help")
    assert result.exit_code == 0
    for command in ("validate", "schema", "run", "bench"):
        assert command in result.output


def test_version(cli):
    result = cli("--version")
    assert result.exit_code == 0 and "0." in result.output


def test_schema_is_a_json_schema_of_the_scenario_file(cli):
    result = cli("schema")
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert {"name", "duration", "topology", "load", "deployments"} <= set(schema["properties"])
    assert "duration" in schema["required"] and "topology" in schema["required"]
    assert schema["additionalProperties"] is False  # unknown keys are errors, editors say so too


def test_validate_accepts_good_files(cli, small_scenario):
    result = cli("validate", small_scenario)
    assert result.exit_code == 0
    assert result.stdout.strip() == f"{small_scenario}: ok"


def test_validate_accepts_the_scenario_library(cli):
    library = Path(__file__).parents[1] / "scenarios"
    result = cli("validate", library)
    assert result.exit_code == 0, result.stderr
    assert f"{library / 'ehr.yaml'}: ok" in result.stdout


def test_validate_refuses_a_bad_file_with_one_line_per_problem_and_no_traceback(cli, small_scenario):
    bad = cli.write("bad.yaml", small_scenario.read_text().replace("tick: 10s", "tick: banana") + "no_such_key: 1\n")
    result = cli("validate", bad)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2, lines
    assert any(line.startswith(f"{bad}:4: tick: ") for line in lines)
    assert any(line.startswith(f"{bad}:16: no_such_key: unknown key") for line in lines)
    assert "Traceback" not in result.output


def test_validate_checks_every_file_and_folder_given(cli, small_scenario):
    (cli.folder / "more").mkdir()
    cli.write("more/two.yaml", "")
    result = cli("validate", small_scenario, cli.folder / "more", cli.folder / "missing.yaml")
    assert result.exit_code == 2
    assert f"{small_scenario}: ok" in result.stdout
    assert "two.yaml" in result.stderr and "mapping" in result.stderr
    assert "missing.yaml: no such file, and no library scenario" in result.stderr
    errors = [line for line in result.stderr.strip().splitlines() if ": warning: " not in line]
    assert len(errors) == 2  # (the small scenario is shorter than the default warm-up: a warning)


def test_run_writes_the_incident_log_and_a_summary(cli, small_scenario):
    out = cli.folder / "out"
    result = cli("run", small_scenario, "--no-agents", "--out", out, "--seed", "5")
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert SUMMARY_KEYS <= set(summary)
    assert summary["scenario"] == "small" and summary["seed"] == 5 and summary["sim_seconds"] == 600.0
    assert set(summary["health"]) == {"min", "mean", "final"}
    assert 0.9 < summary["health"]["min"] <= summary["health"]["mean"] <= 1.0
    events = [json.loads(line) for line in (out / "incidents.jsonl").read_text().splitlines()]
    assert events[0]["kind"] == "run_started" and events[0]["seed"] == 5
    assert events[-1] == {"t": 600.0, "kind": "run_finished", "ticks": 60}
    assert "small (seed 5)" in result.stdout  # the summary table


def test_run_defaults_to_the_scenarios_seed_and_a_runs_folder(cli, small_scenario):
    result = cli("run", small_scenario, "--no-agents", "-q")
    assert result.exit_code == 0, result.output
    summary = cli.folder / "runs" / "small-3" / "summary.json"
    assert json.loads(summary.read_text())["seed"] == 3


def test_run_on_a_missing_file_is_one_line_and_exit_2(cli):
    result = cli("run", cli.folder / "nope.yaml", "--no-agents")
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "nope.yaml: no such file, and no library scenario" in result.stderr


def test_run_on_a_bad_scenario_is_one_line_per_problem_and_exit_2(cli, small_scenario):
    bad = cli.write("bad.yaml", small_scenario.read_text().replace("host: h2}", "host: h9}"))
    result = cli("run", bad, "--no-agents", "--out", cli.folder / "out")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"{bad}:12: topology.services[2].host: unknown host 'h9'; expected one of the topology's hosts"]
    assert not (cli.folder / "out").exists()  # nothing started


def test_bench_twin_prints_a_json_last_line(cli):
    result = cli("bench", "twin", "--services", "200", "--hours", "1", "--naive")
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert {"services", "ticks", "sim_seconds", "wall_seconds", "speedup", "naive_wall_seconds", "ratio", "cpu_ratio"} <= set(figures)
    assert figures["services"] == 200 and figures["ticks"] == 360 and figures["sim_seconds"] == 3600.0


def test_bench_twin_reports_set_up_apart_from_ticks_and_peak_memory(cli):
    result = cli("bench", "twin", "--services", "200", "--hours", "0.5")
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["setup_seconds"] > 0 and figures["ms_per_tick"] > 0 and figures["peak_rss_mib"] > 10


@pytest.mark.parametrize("args", [("--hours", "1"), ("--hours", "0.25"), ("--hours", "2", "--faults-per-hour", "0")])
def test_bench_twin_with_the_team_runs_any_length_and_fault_rate(cli, args):
    result = cli("bench", "twin", "--services", "150", "--agents", *args)
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert {"setup_seconds", "tick_seconds", "peak_rss_mib", "faults_injected", "rca_ac1"} <= set(figures)
    if "--faults-per-hour" in args:
        assert figures["faults_injected"] == 0


def test_bench_refuses_bad_options_with_exit_2(cli):
    assert cli("bench", "twin", "--services", "1").exit_code == 2


def run_with_stderr_on_a_terminal(args: list[str]) -> tuple[subprocess.CompletedProcess, str]:
    """Run opstwin with stdout piped (not a terminal) and stderr on a pseudo-terminal."""
    master, slave = pty.openpty()
    seen: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                return
            if not chunk:
                return
            seen.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        proc = subprocess.run([OPSTWIN, *args], stdout=subprocess.PIPE, stderr=slave, timeout=120, text=True)
    finally:
        os.close(slave)
        reader.join(timeout=10)
        os.close(master)
    return proc, b"".join(seen).decode(errors="replace")


def test_run_with_progress_on_a_terminal_and_stdout_piped(small_scenario, tmp_path):
    proc, terminal = run_with_stderr_on_a_terminal(
        ["run", str(small_scenario), "--no-agents", "--out", str(tmp_path / "out")])
    assert proc.returncode == 0, terminal
    assert "small (seed 3)" in proc.stdout and "\x1b" not in proc.stdout  # a plain table on the pipe
    assert "Traceback" not in terminal
    assert (tmp_path / "out" / "summary.json").exists()


def test_run_with_nothing_on_a_terminal_says_what_starts_and_prints_plain_progress(small_scenario, tmp_path):
    proc = subprocess.run([OPSTWIN, "run", str(small_scenario), "--no-agents", "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "small (seed 3)" in proc.stdout and "\x1b" not in proc.stdout + proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0] == "running small seed 3 (no agents)"
    assert lines[1].startswith("small seed 3: 1m/10m (10%) health ")  # every 10% of sim time
    assert lines[-1].startswith("small seed 3: 10m/10m (100%) health ") and len(lines) == 11


def test_run_quiet_prints_nothing_on_stderr(small_scenario, tmp_path):
    proc = subprocess.run([OPSTWIN, "run", str(small_scenario), "--no-agents", "-q", "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stderr == ""


def test_validate_on_a_folder_without_scenarios_is_an_error(cli):
    (cli.folder / "empty").mkdir()
    result = cli("validate", cli.folder / "empty")
    assert result.exit_code == 2
    assert "no scenario files" in result.stderr and "empty" in result.stderr
