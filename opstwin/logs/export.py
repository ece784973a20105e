"""The twin's own log lines, written to a file in a loghub format, with labels from ground truth.

``opstwin run --logs-out FILE`` attaches a :class:`LogExport` as a frame hook: after every tick it
takes every WARN/ERROR line the twin wrote (the same text an agent reads, rendered from the same
hash, so it never draws from the twin's generators and the incident log does not change), sorts
the tick's lines by time, and writes them in the chosen format. Beside ``FILE`` it writes
``FILE_structured.csv`` as loghub does (``LineId``, ``Label``, ``Node``, ``EventId``,
``EventTemplate``), so template ground truth comes with the file.

Label (ground truth, the experimenter's view): a line is anomalous, labelled with the fault's
type, when a fault was active during its tick and the writing service lies in that fault's blast
radius (the definition detection metrics use, opstwin/evaluation/metrics.py); otherwise ``-``.
Lines from a surge, a daily peak or the background are normal: real logs are like that too.
"""

from __future__ import annotations

import calendar
import csv
import re
import time
from pathlib import Path
from typing import Any

from opstwin.logs.formats import LogFormat, get_format
from opstwin.twin.logs import LINE_FORMAT, TEMPLATES, TEMPLATE_ID

ALL = 10**9  # read every line a service wrote in a tick
_HEADER = re.compile(LINE_FORMAT)
_HOLE = re.compile(r"\{[a-z]+\}")


def true_template(name: str) -> str:
    """A twin template in loghub's notation: every parameter is ``<*>``."""
    return _HOLE.sub("<*>", TEMPLATES[TEMPLATE_ID[name]].text)


def field_values(fmt: LogFormat, stamp: str, level: str, component: str, node: str, pid: int,
                 content: str, label: str, line_id: int) -> dict[str, str]:
    """Values for every field a format may name, written without spaces as the real files are;
    the date fields follow what each system puts there (a day of month after a month, ...)."""
    tm = time.strptime(stamp, "%Y-%m-%dT%H:%M:%S")
    month, day = time.strftime("%b", tm), str(tm.tm_mday)
    has = set(fmt.fields)
    if fmt.name == "opstwin":
        date = stamp + "Z"
    elif "Month" in has and "Day" not in has:  # Linux, Mac: <Month> <Date> <Time>
        date = day
    elif "Day" in has and "Month" not in has:  # OpenSSH: <Date> <Day> <Time>, the date is a month
        date = month
    elif "Day" in has:  # Thunderbird: 2005.11.09
        date = time.strftime("%Y.%m.%d", tm)
    else:
        date = stamp[:10]
    clock = stamp[11:]
    return {"Label": label, "Timestamp": str(calendar.timegm(tm)), "Date": date,
            "Time": clock, "Month": month, "Day": day, "Level": level, "Component": component, "Content": content,
            "Node": node, "NodeRepeat": node, "Location": node, "User": node, "Process": node, "Program": node,
            "Pid": str(pid), "PID": str(pid), "Tid": str(pid), "Id": str(pid), "Type": "APP", "State": "state_change",
            "Flag": "1", "LogId": str(line_id), "Logrecord": "opstwin.log", "ADDR": "-", "Address": node}


class LogExport:
    """A frame hook writing every line the twin writes to `path` in `fmt` (see the module docstring)."""

    def __init__(self, path: Path, fmt: str | LogFormat = "opstwin") -> None:
        self.path = Path(path)
        self.fmt = fmt if isinstance(fmt, LogFormat) else get_format(fmt)
        self.truth_path = self.path.with_name(self.path.name + "_structured.csv")
        self._out = self.path.open("w", encoding="utf-8", newline="\n")
        self._truth_file = self.truth_path.open("w", encoding="utf-8", newline="")
        self._truth = csv.writer(self._truth_file, lineterminator="\n")
        self._truth.writerow(["LineId", "Label", "Node", "EventId", "EventTemplate"])
        self._radius: dict[str, set[str]] = {}
        self.lines = 0
        self.anomalous = 0

    def __call__(self, sim: Any, frame: Any) -> None:
        from opstwin.evaluation.metrics import blast_radius

        topo, tick = sim.twin.topo, sim.scenario.tick
        labels: dict[str, str] = {}
        for f in sim.faults.faults:  # injection order: the first fault to cover a service names it
            if f.started < frame.t and (f.resolved_at is None or f.resolved_at > frame.t - tick):
                if f.id not in self._radius:
                    self._radius[f.id] = blast_radius(f.ground_truth(), topo)
                for name in self._radius[f.id]:
                    labels.setdefault(name, f.kind.name)
        rows = []
        for service, template, text in frame.logs.truth(frame.logs.writers(), ALL):
            m = _HEADER.match(text)
            rows.append((m.group("date")[:-1], service, template, m.group("level"), m.group("component"),
                         m.group("content")))
        rows.sort(key=lambda r: r[0])  # by time within the tick (stable: service order among equals)
        for stamp, service, template, level, component, content in rows:
            self.lines += 1
            node = topo.services[service]
            label = labels.get(node, "-")
            self.anomalous += label != "-"
            values = field_values(self.fmt, stamp, level, component, node, 1000 + service, content, label, self.lines)
            self._out.write(self.fmt.render(values) + "\n")
            self._truth.writerow([self.lines, label, node, f"E{TEMPLATE_ID[template] + 1}", true_template(template)])

    def close(self) -> None:
        self._out.close()
        self._truth_file.close()

    def __enter__(self) -> "LogExport":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

