"""Log replay (`opstwin logs`): loghub formats, the monitor's drain3 mining, detectors and scores.

Tests read like the README: a file in a format in, a fact about the result out. The data are the
twin's own logs (exact templates and labels known) and the hand-written fixtures in
tests/fixtures/logs (a few lines per format; no loghub data is shipped).
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest

from conftest import SMALL_SCENARIO
from opstwin.logs import formats
from opstwin.logs.detect import DETECTORS, run_detectors, split
from opstwin.logs.formats import FORMATS, LogFormat, get_format
from opstwin.logs.parsing import Mined, canonical, mine, read_truth, score_parsing

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "logs"

# a small cloud with a disk that fills (a fault with ground truth) after ten minutes
FAULTY = SMALL_SCENARIO.replace("duration: 10m", "duration: 40m") + """\
faults:
  scheduled:
    - {type: dependency_outage, target: db, at: 10m, duration: 10m}
"""


@pytest.mark.parametrize("name", list(FORMATS))
def test_every_format_parses_its_own_fixture_and_skips_the_malformed_line(name):
    mined = mine(FIXTURES / f"{name}.log", get_format(name))
    assert (mined.stats.lines, mined.n, mined.stats.malformed) == (5, 4, 1)
    assert mined.stats.first_malformed == [5]
    assert 1 <= len(mined.templates) <= 4
    fmt = get_format(name)
    assert (mined.anomalous is not None) == fmt.labelled


def test_fields_are_split_as_loghub_splits_them():
    m = get_format("BGL").regex.match((FIXTURES / "BGL.log").read_text().splitlines()[2])
    assert m.group("Label") == "KERNFAIL" and m.group("Level") == "FATAL"
    assert m.group("Content") == "machine check on core 3"
    m = get_format("Thunderbird").regex.match((FIXTURES / "Thunderbird.log").read_text().splitlines()[0])
    assert m.group("Component") == "cron(pam)" and m.group("PID") == "4101"
    mined = mine(FIXTURES / "BGL.log", get_format("BGL"))
    assert mined.anomalous.tolist() == [False, False, True, True]  # `-` is normal, anything else an alert


def test_a_new_system_is_one_line_in_the_table(monkeypatch, tmp_path):
    monkeypatch.setitem(formats.FORMATS, "Gateway", r"<Date> <Time> <Level> gw\[<Pid>\]: <Content>")
    log = tmp_path / "gw.log"
    log.write_text("2024-03-12 10:15:00 INFO gw[7]: route added for 10.0.0.0/8\n"
                   "2024-03-12 10:15:01 INFO gw[7]: route added for 10.1.0.0/16\nnot a gateway line\n")
    mined = mine(log, get_format("gateway"))
    assert (mined.n, mined.stats.malformed, len(mined.templates)) == (2, 1, 1)


def test_an_unknown_format_names_the_known_ones():
    with pytest.raises(ValueError, match="unknown log format 'nope'; known: HDFS, Hadoop"):
        get_format("nope")


def test_undecodable_bytes_and_blank_lines_never_raise(tmp_path):
    log = tmp_path / "odd.log"
    log.write_bytes(b"Mar 12 10:15:00 gate sshd[1]: Failed password for \xff\xfe user\n\n\x00\x01\x02\n")
    mined = mine(log, get_format("OpenSSH"))
    assert (mined.n, mined.stats.malformed, mined.stats.first_malformed) == (1, 2, [2, 3])


# ------------------------------------------------------------------ scoring
def test_canonical_templates_compare_placeholders_alike():
    assert canonical("connect to <IP> failed: <NUM>") == canonical("connect to <*>:<*> failed: <*>")
    assert canonical("upstream svc-<NUM>-<NUM> returned") == canonical("upstream <*> returned")
    assert canonical("returned <NUM> Bad Gateway") != canonical("returned 502 Bad Gateway")  # a masked constant


def test_grouping_accuracy_counts_only_clusters_that_are_exactly_an_event(tmp_path):
    # lines 1-2 event A in cluster 1 (right); 3-4 event B and 5 event C merged in cluster 2 (wrong);
    # 6 event D split over clusters 3 and 4 with line 7 (wrong)
    truth = tmp_path / "t.csv"
    rows = [(1, "A", "a <*>"), (2, "A", "a <*>"), (3, "B", "b"), (4, "B", "b"), (5, "C", "c"), (6, "D", "d"),
            (7, "D", "d")]
    truth.write_text("LineId,EventId,EventTemplate\n" + "".join(f"{i},{e},{t}\n" for i, e, t in rows))
    mined = Mined(Path("x"), np.arange(1, 8), np.array([1, 1, 2, 2, 2, 3, 4], dtype=np.int32), None, None, None,
                  {1: "a <NUM>", 2: "b", 3: "d", 4: "d"})
    score = score_parsing(mined, read_truth(truth))
    assert score.grouping_accuracy == pytest.approx(2 / 7)
    assert score.parsing_accuracy == pytest.approx(6 / 7)  # line 5 reads "b", not "c"
    assert (score.lines, score.events, score.clusters) == (7, 4, 4)


# ------------------------------------------------------------------ the twin's logs
@pytest.fixture(scope="module")
def twin_logs(tmp_path_factory) -> dict[int, Path]:
    """The faulty small cloud's logs (opstwin format) for seeds 1 and 2, written by `run --logs-out`."""
    from click.testing import CliRunner

    from opstwin.cli.main import main

    folder = tmp_path_factory.mktemp("twinlogs")
    scenario = folder / "faulty.yaml"
    scenario.write_text(FAULTY)
    out = {}
    for seed in (1, 2):
        log = folder / f"faulty-{seed}.log"
        r = CliRunner().invoke(main, ["run", str(scenario), "--seed", str(seed), "--transport", "inproc", "-q",
                                      "--out", str(folder / f"run-{seed}"), "--logs-out", str(log)],
                               catch_exceptions=False)
        assert r.exit_code == 0, r.output
        out[seed] = log
    return out


def test_run_logs_out_writes_labelled_lines_and_template_truth(twin_logs):
    log = twin_logs[1]
    lines = log.read_text().splitlines()
    truth = list(csv.DictReader(log.with_name(log.name + "_structured.csv").open()))
    assert len(lines) == len(truth) > 100
    labels = [ln.split(" ", 1)[0] for ln in lines]
    assert set(labels) == {"-", "dependency_outage"}
    assert [t["Label"] for t in truth] == labels
    # labelled lines fall in the fault's window (10m to 20m): 2026-01-01T00:10 .. 00:20
    stamps = [ln.split()[2] for ln in lines if not ln.startswith("- ")]
    assert min(stamps) >= "2026-01-01T00:09:50Z" and max(stamps) <= "2026-01-01T00:20:10Z"
    assert all(re.match(r"E\d+$", t["EventId"]) for t in truth)


def test_logs_out_leaves_the_incident_log_unchanged(cli, small_scenario):
    a = cli("run", small_scenario, "--transport", "inproc", "-q", "--out", "a")
    b = cli("run", small_scenario, "--transport", "inproc", "-q", "--out", "b", "--logs-out", "b.log",
            "--logs-format", "BGL")
    assert a.exit_code == 0 and b.exit_code == 0, b.output
    assert (cli.folder / "a" / "incidents.jsonl").read_bytes() == (cli.folder / "b" / "incidents.jsonl").read_bytes()
    assert (cli.folder / "b.log").exists()


def test_the_export_is_deterministic(twin_logs, tmp_path):
    from click.testing import CliRunner

    from opstwin.cli.main import main

    scenario = tmp_path / "faulty.yaml"
    scenario.write_text(FAULTY)
    again = tmp_path / "again.log"
    CliRunner().invoke(main, ["run", str(scenario), "--seed", "1", "--transport", "inproc", "-q", "--no-agents",
                              "--out", str(tmp_path / "r"), "--logs-out", str(again)], catch_exceptions=False)
    assert again.read_bytes() == twin_logs[1].read_bytes()  # the team does not change what the twin writes


@pytest.mark.parametrize("name", list(FORMATS))
def test_twin_lines_round_trip_through_every_format(twin_logs, tmp_path, name):
    """Written in any format and read back with it, every line keeps its content (and its label
    where the format has one)."""
    from opstwin.logs.export import field_values

    fmt = get_format(name)
    source = get_format("opstwin")
    out = tmp_path / f"{name}.log"
    originals = []
    with out.open("w") as f:
        for k, text in enumerate(twin_logs[1].read_text().splitlines()[:300], start=1):
            m = source.regex.match(text)
            originals.append((m.group("Label"), m.group("Content")))
            values = field_values(fmt, m.group("Date")[:-1], m.group("Level"), m.group("Component"), m.group("Node"),
                                  1000 + k, m.group("Content"), m.group("Label"), k)
            f.write(fmt.render(values) + "\n")
    back = [fmt.regex.match(line) for line in out.read_text().splitlines()]
    assert all(back), name
    assert [m.group("Content") for m in back] == [c for _, c in originals]
    if fmt.labelled:
        assert [m.group("Label") for m in back] == [lab for lab, _ in originals]


def test_drain3_groups_the_twin_logs_exactly(twin_logs, cli):
    r = cli("logs", "parse", twin_logs[1], "--format", "opstwin", "--out", "p")
    assert r.exit_code == 0, r.output
    row = next(csv.DictReader((cli.folder / "p" / "results.csv").open()))
    assert float(row["grouping_accuracy"]) == 1.0  # the truth was found beside the file
    assert 0.0 < float(row["parsing_accuracy"]) < 1.0  # the monitor's masks read status codes as numbers
    assert int(row["malformed"]) == 0
    assert re.search(r"parsed [\d,]+ lines in [\d.]+ s \([\d,]+ lines/s\)", r.output)
    assert (cli.folder / "p" / "templates.csv").read_text().startswith("EventId,EventTemplate,Occurrences")


def test_detect_trains_on_one_seed_and_scores_another(twin_logs, cli):
    r = cli("logs", "detect", twin_logs[2], "--format", "opstwin", "--train", twin_logs[1], "--window", "1m",
            "--group", "Node", "--detector", "isolation_forest", "--detector", "pca", "--out", "d")
    assert r.exit_code == 0, r.output
    assert re.search(r"scored [\d,]+ lines in [\d.]+ s: [\d,]+ lines/s", r.output)
    rows = list(csv.DictReader((cli.folder / "d" / "results.csv").open()))
    assert [x["detector"] for x in rows] == ["isolation_forest", "pca"]
    for x in rows:
        assert 0 <= float(x["window_precision"]) <= 1 and 0 <= float(x["line_f1"]) <= 1
        assert int(x["test_lines"]) == len(twin_logs[2].read_text().splitlines())
    assert max(float(x["window_f1"]) for x in rows) > 0.3  # a fault's burst is not what normal windows look like
    facts = json.loads((cli.folder / "d" / "results.json").read_text())
    assert facts["window"] == "1m" and facts["group"] == "Node"
    assert "| isolation_forest |" in (cli.folder / "d" / "report.md").read_text()


def test_detectors_flag_windows_unlike_training(tmp_path):
    """Training windows mix four templates; a burst of a template never seen is anomalous for every
    count detector, and most normal test windows are not."""
    rng = np.random.default_rng(0)
    normal = rng.choice([1, 2, 5, 6], size=4000, p=[0.5, 0.2, 0.2, 0.1]).astype(np.int32)
    odd = np.full(40, 3, dtype=np.int32)
    test = np.concatenate([normal[:400], odd, normal[400:800]])
    truth = np.zeros(len(test), dtype=bool)
    truth[400:440] = True
    train_m = Mined(Path("a"), np.arange(len(normal)), normal, np.zeros(len(normal), bool), None, None, {})
    test_m = Mined(Path("b"), np.arange(len(test)), test, truth, None, None, {})
    results = run_detectors(split(test_m, train_m, 0.5, 20), ("isolation_forest", "lof", "ocsvm", "pca"), 20, seed=1)
    for r in results:
        assert r.window.recall == 1.0, r.detector
        assert r.window.fp < 0.3 * 40, r.detector  # 40 normal test windows


def test_deeplog_flags_a_broken_order_and_an_unseen_template():
    pytest.importorskip("torch")
    cycle = np.tile(np.array([1, 2, 3, 4], dtype=np.int32), 600)
    test = np.tile(np.array([1, 2, 3, 4], dtype=np.int32), 20)
    test[41], test[42] = 4, 9  # 1 4 9 4 instead of 1 2 3 4: a jump and a template never seen
    truth = np.zeros(len(test), dtype=bool)
    truth[41:43] = True
    train_m = Mined(Path("a"), np.arange(len(cycle)), cycle, np.zeros(len(cycle), bool), None, None, {})
    test_m = Mined(Path("b"), np.arange(len(test)), test, truth, None, None, {})
    from opstwin.logs import deeplog
    from opstwin.logs.windows import starts

    s = split(test_m, train_m, 0.5, 10)
    config = deeplog.DeepLogConfig(top_k=1, hidden=32, layers=1, min_steps=150)  # top 9 of 5 would flag nothing
    flags = deeplog.flag_lines(s.tokens + 1, starts(s.segment), np.arange(len(s.tokens)) < s.test_from, s.test_from,
                               s.vocab.size + 1, seed=1, config=config)
    assert flags[41] and flags[42]
    assert flags[:41].sum() <= 1 and flags[44:].sum() == 0  # the first line has no history yet


def test_every_detector_runs_from_the_command_line(cli):
    """All five on the fixture-sized opstwin file: the command completes and reports each."""
    pytest.importorskip("torch")
    log = cli.folder / "x.log"
    base = (FIXTURES / "opstwin.log").read_text().splitlines()[:4]
    log.write_text("\n".join(base * 30) + "\n")
    r = cli("logs", "detect", log, "--format", "opstwin", "--window", "4")
    assert r.exit_code == 2 and "no training windows" in r.output  # every window holds an anomalous line
    r = cli("logs", "detect", log, "--format", "opstwin", "--window", "4", "--train-on", "all")
    assert r.exit_code == 0, r.output
    for name in DETECTORS:
        assert f"| {name} |" in r.output


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("args, message", [
    (["--format", "nope"], "unknown log format 'nope'"),
    (["--format", "OpenSSH"], "no line fits the OpenSSH format"),
    (["--format", "opstwin", "--group", "Host"], "has no field 'Host'"),
    (["--format", "Linux", "--window", "5m"], "needs a Timestamp field"),
    (["--format", "opstwin", "--window", "often"], "--window often: neither a number of lines, a duration nor `session`"),
    (["--format", "opstwin", "--detector", "bert"], "--detector bert: unknown"),
    (["--format", "opstwin", "--train-fraction", "0.01"], "nothing to train on"),
])
def test_bad_detect_input_is_one_line_and_exit_2(cli, args, message):
    log = cli.folder / "x.log"
    log.write_text((FIXTURES / "opstwin.log").read_text())
    r = cli("logs", "detect", log, *args)
    assert r.exit_code == 2 and message in r.output, r.output
    assert "Traceback" not in r.output


def test_a_truth_file_that_is_not_structured_is_one_line(cli):
    log = cli.folder / "x.log"
    log.write_text((FIXTURES / "opstwin.log").read_text())
    bad = cli.write("bad.csv", "a,b\n1,2\n")
    r = cli("logs", "parse", log, "--format", "opstwin", "--truth", bad)
    assert r.exit_code == 2 and "not a structured CSV: no column EventId, EventTemplate, LineId" in r.output


def test_logs_out_refuses_an_existing_file_without_force(cli, small_scenario):
    cli.write("x.log", "keep me\n")
    r = cli("run", small_scenario, "--transport", "inproc", "-q", "--logs-out", "x.log")
    assert r.exit_code == 2 and "file exists" in r.output
    assert (cli.folder / "x.log").read_text() == "keep me\n"


def test_long_files_show_progress(cli, monkeypatch):
    from opstwin.cli import logs as logs_cli

    monkeypatch.setattr(logs_cli, "BIG", 0)
    log = cli.folder / "x.log"
    log.write_text((FIXTURES / "opstwin.log").read_text() * 50)
    r = cli("logs", "parse", log, "--format", "opstwin")
    assert r.exit_code == 0
    assert re.search(r"x\.log: 50% \([\d,]+ lines, [\d,]+ lines/s\)", r.output)
    assert "50 malformed line(s) skipped" in r.output


def test_formats_are_well_formed():
    for name, spec in FORMATS.items():
        fmt = LogFormat(name, spec)
        assert "Content" in fmt.fields, name
        assert fmt.fields[-1] == "Content", name  # the message is what is left of the line


@pytest.mark.slow
def test_detection_is_reproducible_from_the_seed(twin_logs, cli):
    pytest.importorskip("torch")

    def results(out: str) -> list[dict]:
        r = cli("logs", "detect", twin_logs[2], "--format", "opstwin", "--train", twin_logs[1], "--detector",
                "isolation_forest", "--detector", "deeplog", "--seed", "3", "--out", out, "-q")
        assert r.exit_code == 0, r.output
        rows = json.loads((cli.folder / out / "results.json").read_text())["results"]
        return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]

    assert results("a") == results("b")


def _hdfs_like(path: Path, blocks: int, bad: set[int]) -> None:
    """HDFS-format lines, each naming its block; a bad block's writes fail. Labels go to path.csv."""
    rows = []
    for b in range(blocks):
        blk = f"blk_{'-' if b % 3 == 0 else ''}{9000 + b}"
        rows.append(f"240312 1015{b % 60:02d} {100 + b} INFO dfs.Namesystem: allocated block {blk} for /d/part-{b}")
        for k in range(3):
            rows.append(f"240312 1015{b % 60:02d} {100 + b} INFO dfs.DataNode$Receiver: Receiving block {blk} "
                        f"src: /10.0.0.{k + 1}:4100{k} dest: /10.0.0.9:50010")
            if b in bad and k == 1:
                rows.append(f"240312 1015{b % 60:02d} {100 + b} WARN dfs.DataNode: exception while writing {blk} "
                            f"to mirror 10.0.0.{k + 2}: Connection reset by peer")
        rows.append(f"240312 1015{b % 60:02d} {100 + b} INFO dfs.DataNode$Responder: Responder for block {blk} "
                    f"terminating")
    path.write_text("\n".join(rows) + "\n")
    labels = "".join(f"blk_{'-' if b % 3 == 0 else ''}{9000 + b},{'Anomaly' if b in bad else 'Normal'}\n"
                     for b in range(blocks))
    path.with_suffix(".csv").write_text("BlockId,Label\n" + labels)


def test_hdfs_blocks_are_sessions_with_labels_from_their_file(cli):
    log = cli.folder / "hdfs.log"
    _hdfs_like(log, 200, bad={120, 150, 170, 190})
    r = cli("logs", "detect", log, "--format", "HDFS", "--session", r"blk_-?\d+", "--labels", log.with_suffix(".csv"),
            "--window", "session", "--detector", "pca", "--detector", "lof", "--out", "h")
    assert r.exit_code == 0, r.output
    rows = {x["detector"]: x for x in csv.DictReader((cli.folder / "h" / "results.csv").open())}
    for name in ("pca", "lof"):
        assert int(rows[name]["test_windows"]) == 100  # a window per block of the second half
        assert float(rows[name]["window_recall"]) == 1.0, rows[name]
        assert int(rows[name]["window_fp"]) <= 5, rows[name]


@pytest.mark.parametrize("args, message", [
    (["--labels", "lab.csv"], "--labels needs sessions"),
    (["--window", "session"], "--window session needs sessions"),
    (["--group", "Pid", "--session", "blk"], "give one"),
    (["--session", "blk_(", "--labels", "lab.csv"], "--session blk_(: not a regular expression"),
])
def test_bad_session_options_are_one_line(cli, args, message):
    log = cli.folder / "hdfs.log"
    _hdfs_like(log, 10, bad=set())
    cli.write("lab.csv", "BlockId,Label\nblk_-9000,Normal\n")
    r = cli("logs", "detect", log, "--format", "HDFS", *args)
    assert r.exit_code == 2 and message in r.output, r.output


def test_train_on_twin_logs_test_on_a_real_format(cli):
    """The twin writes BGL; a detector trained on it scores a BGL file (here the fixture)."""
    faulty = cli.write("faulty.yaml", FAULTY)
    r = cli("run", faulty, "--transport", "inproc", "-q", "--no-agents", "--logs-out", "twin.log",
            "--logs-format", "BGL")
    assert r.exit_code == 0, r.output
    assert get_format("BGL").regex.match((cli.folder / "twin.log").read_text().splitlines()[0])
    r = cli("logs", "detect", FIXTURES / "BGL.log", "--format", "BGL", "--train", "twin.log", "--window", "2",
            "--detector", "pca")
    assert r.exit_code == 0, r.output
    assert "| pca |" in r.output and "1 malformed line(s) skipped" in r.output
