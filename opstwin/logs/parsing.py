"""Mining a log file's templates with the monitor's drain3 set-up, and scoring them.

The miner is the monitor's (:func:`opstwin.agents.logreader.miner_config`: the same masks,
similarity threshold and depth), fed each line's Content, as loghub's parser benchmarks do. What is
kept per line is compact: its number, its cluster id, whether its label says anomalous and (for sessions) the id
of its group (about 17 bytes a line, never the text), so a file of millions of lines fits.

Scores against a loghub ``*_structured.csv`` (``LineId``, ``EventId``, ``EventTemplate``):

- grouping accuracy (Zhu et al., ICSE-SEIP 2019): the share of lines whose mined cluster holds
  exactly the lines of one true event, no more and no fewer;
- parsing accuracy: the share of lines whose cluster's final template equals the true template,
  once both are written canonically: every placeholder (drain3's masks ``<NUM>``, ``<IP>``, ... and
  loghub's ``<*>``) becomes ``<*>``, a whitespace-separated token that holds one becomes ``<*>``
  whole (``svc-<*>-<*>``, ``<*>:53:`` and ``(<*>)`` alike), and whitespace is collapsed. A constant
  the miner masked (a status code ``500`` read as ``<NUM>``) stays a mismatch: that is what
  parsing accuracy measures.
"""

from __future__ import annotations

import csv
import re
import time
from array import array
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from opstwin.logs.formats import LogFormat
from opstwin.logs.reader import LogInputError, Progress, ReadStats, read


def make_miner():
    """A drain3 TemplateMiner with the monitor's configuration."""
    from drain3 import TemplateMiner

    from opstwin.agents.logreader import miner_config

    return TemplateMiner(config=miner_config())


@dataclass
class Mined:
    """One file, mined: per line its number, cluster and label; the clusters' templates at the end."""

    path: Path
    line: np.ndarray  # line numbers (from 1) of the lines that parsed
    cluster: np.ndarray  # drain3 cluster id per line
    anomalous: np.ndarray | None  # per line, from the Label field; None when the format has none
    group: np.ndarray | None  # per line, an id of its `group` field's value (sessions); None if not grouped
    time: np.ndarray | None  # per line, its Timestamp field (seconds) when asked for; None otherwise
    templates: dict[int, str]  # cluster id -> its template as it reads after the whole file
    stats: ReadStats = field(default_factory=ReadStats)
    seconds: float = 0.0

    @property
    def n(self) -> int:
        return len(self.cluster)


def mine(path: Path, fmt: LogFormat, miner=None, progress: Progress | None = None, group: str | None = None,
         groups: dict[str, int] | None = None, timed: bool = False, session: re.Pattern[str] | None = None) -> Mined:
    """Read `path` in `fmt` and mine every line's Content (continuing `miner` if given, so that two
    files share cluster ids). With `group` (a field of `fmt`, e.g. Node), each line also gets an id of
    that field's value (from `groups`, shared between files, grown as values appear); with `timed`,
    its Timestamp field as seconds (a line whose Timestamp is not a number counts as malformed). With
    `session` instead of `group`, a line's session is the first match of that regex in its Content
    (e.g. an HDFS block id; a line that names none is in the session ``""``)."""
    if group is not None and group not in fmt.fields:
        raise LogInputError(f"--group: the {fmt.name} format has no field {group!r}; it has {', '.join(fmt.fields)}")
    if timed and "Timestamp" not in fmt.fields:
        raise LogInputError(f"--window as a duration needs a Timestamp field (seconds), which the {fmt.name} "
                         f"format does not have; give --window in lines")
    miner = miner if miner is not None else make_miner()
    # what TemplateMiner.add_log_message does, minus its result dict (a template string per line)
    mask, add = miner.masker.mask, miner.drain.add_log_message
    groups = {} if groups is None else groups
    lines, clusters, labels, keys, stamps = array("q"), array("i"), bytearray(), array("i"), array("d")
    stats = ReadStats()
    labelled = fmt.labelled
    t0 = time.perf_counter()  # clock-ok: reported speed only
    for number, m in read(path, fmt, stats, progress):
        if timed:
            try:
                stamps.append(float(m.group("Timestamp")))
            except ValueError:
                stats.bad(number)
                continue
        lines.append(number)
        clusters.append(add(mask(m.group("Content")))[0].cluster_id)
        if labelled:
            labels.append(m.group("Label") != "-")
        if group is not None:
            keys.append(groups.setdefault(m.group(group), len(groups)))
        elif session is not None:
            found = session.search(m.group("Content"))
            keys.append(groups.setdefault(found.group(0) if found else "", len(groups)))
    seconds = time.perf_counter() - t0  # clock-ok
    if not lines:
        raise LogInputError(f"{path}: no line fits the {fmt.name} format ({stats.lines} lines read); check --format "
                            f"(`opstwin logs formats` lists them)")
    templates = {c.cluster_id: c.get_template() for c in miner.drain.clusters}
    return Mined(path, np.frombuffer(lines, dtype=np.int64), np.frombuffer(clusters, dtype=np.int32),
                 np.frombuffer(bytes(labels), dtype=np.bool_) if labelled else None,
                 np.frombuffer(keys, dtype=np.int32) if group or session else None,
                 np.frombuffer(stamps, dtype=np.float64) if timed else None, templates, stats, seconds)


# ------------------------------------------------------------------ scoring
_PLACEHOLDER = re.compile(r"<[A-Z]+>|<\*>")


def canonical(template: str) -> str:
    """A template written so that equal templates compare equal (see the module docstring)."""
    return " ".join("<*>" if _PLACEHOLDER.search(token) else token for token in template.split())


class TruthError(LogInputError):
    """A structured CSV that cannot be read as ground truth (the message names the file)."""


@dataclass(frozen=True)
class Truth:
    """A structured CSV, compactly: per row its LineId and event number; per event its id and template."""

    line: np.ndarray  # LineId per row, sorted
    event: np.ndarray  # event number per row
    ids: list[str]  # EventId per event number
    templates: list[str]  # EventTemplate per event number (the first row's)


def read_truth(path: Path) -> Truth:
    """A loghub ``*_structured.csv`` (``LineId``, ``EventId``, ``EventTemplate`` columns), streamed."""
    lines, events = array("q"), array("i")
    number: dict[str, int] = {}
    templates: list[str] = []
    with path.open(newline="", encoding="utf-8", errors="replace") as f:
        rows = csv.DictReader(f)
        missing = {"LineId", "EventId", "EventTemplate"} - set(rows.fieldnames or ())
        if missing:
            raise TruthError(f"{path}: not a structured CSV: no column {', '.join(sorted(missing))}")
        for k, row in enumerate(rows, start=2):
            try:
                lines.append(int(row["LineId"]))
            except (TypeError, ValueError):
                raise TruthError(f"{path}:{k}: LineId {row.get('LineId')!r} is not a line number") from None
            eid = row["EventId"]
            if eid not in number:
                number[eid] = len(templates)
                templates.append(row["EventTemplate"] or "")
            events.append(number[eid])
    line, event = np.frombuffer(lines, dtype=np.int64), np.frombuffer(events, dtype=np.int32)
    order = np.argsort(line, kind="stable")
    return Truth(line[order], event[order], list(number), templates)


@dataclass(frozen=True)
class ParseScore:
    lines: int  # lines scored (parsed and in the truth)
    events: int  # true events among them
    clusters: int  # mined clusters among them
    grouping_accuracy: float
    parsing_accuracy: float


def score_parsing(mined: Mined, truth: Truth) -> ParseScore:
    """Grouping and parsing accuracy of `mined` on the lines `truth` names (module docstring)."""
    pos = np.minimum(np.searchsorted(truth.line, mined.line), max(len(truth.line) - 1, 0))
    keep = (truth.line[pos] == mined.line) if len(truth.line) else np.zeros(mined.n, dtype=bool)
    clusters, event = mined.cluster[keep].astype(np.int64), truth.event[pos[keep]].astype(np.int64)
    n = len(clusters)
    if not n:
        return ParseScore(0, 0, 0, 0.0, 0.0)
    # a cluster is right when it holds one event and all of that event's lines
    pair, pair_n = np.unique(np.stack([clusters, event]), axis=1, return_counts=True)
    cluster_ids, per_cluster = np.unique(pair[0], return_counts=True)
    single = dict(zip(cluster_ids.tolist(), (per_cluster == 1).tolist()))
    event_n = np.bincount(event, minlength=len(truth.ids))
    right = sum(k for c, e, k in zip(pair[0].tolist(), pair[1].tolist(), pair_n.tolist()) if single[c] and k == event_n[e])
    # parsing: per (cluster, event) pair, whether the cluster's template is the event's
    mined_t = {c: canonical(t) for c, t in mined.templates.items()}
    true_t = [canonical(t) for t in truth.templates]
    parsed_ok = sum(k for c, e, k in zip(pair[0].tolist(), pair[1].tolist(), pair_n.tolist())
                    if mined_t.get(c) == true_t[e])
    return ParseScore(n, len(np.unique(event)), len(cluster_ids), right / n, parsed_ok / n)
