"""Log header formats, as the loghub benchmark writes them: one line per system.

A format is a string of ``<Field>`` names and the literal text between them, e.g. HDFS's
``<Date> <Time> <Pid> <Level> <Component>: <Content>``. It becomes a regex the way loghub's
parsers build it: every field is a lazy group, every run of spaces matches any whitespace, and the
whole line must match. ``<Content>`` is what gets mined; a leading ``<Label>`` field is the
per-line label (loghub's convention: ``-`` means normal, anything else names an alert).

Adding a system is one line in :data:`FORMATS`. The same table renders lines (:func:`render`),
so the twin's own logs can be written in any of these formats (opstwin/logs/export.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

FORMATS: dict[str, str] = {  # name -> loghub log_format (the benchmark's own strings)
    "HDFS": r"<Date> <Time> <Pid> <Level> <Component>: <Content>",
    "Hadoop": r"<Date> <Time> <Level> \[<Process>\] <Component>: <Content>",
    "Spark": r"<Date> <Time> <Level> <Component>: <Content>",
    "Zookeeper": r"<Date> <Time> - <Level>  \[<Node>:<Component>@<Id>\] - <Content>",
    "BGL": r"<Label> <Timestamp> <Date> <Node> <Time> <NodeRepeat> <Type> <Component> <Level> <Content>",
    "HPC": r"<LogId> <Node> <Component> <State> <Time> <Flag> <Content>",
    "Thunderbird": r"<Label> <Timestamp> <Date> <User> <Month> <Day> <Time> <Location> <Component>(\[<PID>\])?: <Content>",
    "Windows": r"<Date> <Time>, <Level>                  <Component>    <Content>",
    "Linux": r"<Month> <Date> <Time> <Level> <Component>(\[<PID>\])?: <Content>",
    "Android": r"<Date> <Time>  <Pid>  <Tid> <Level> <Component>: <Content>",
    "HealthApp": r"<Time>\|<Component>\|<Pid>\|<Content>",
    "Apache": r"\[<Time>\] \[<Level>\] <Content>",
    "Proxifier": r"\[<Time>\] <Program> - <Content>",
    "OpenSSH": r"<Date> <Day> <Time> <Component> sshd\[<Pid>\]: <Content>",
    "OpenStack": r"<Logrecord> <Date> <Time> <Pid> <Level> <Component> \[<ADDR>\] <Content>",
    "Mac": r"<Month>  <Date> <Time> <User> <Component>\[<PID>\]( \(<Address>\))?: <Content>",
    # the twin's own layout (twin/logs.py LINE_FORMAT, what the monitor reads), with a label in front
    "opstwin": r"<Label> <Timestamp> <Date> <Level> \[<Component>\] <Node>: <Content>",
}

_FIELD = re.compile(r"<([^<>]+)>")


@dataclass(frozen=True)
class LogFormat:
    """One system's header: its name, loghub format string, field names and compiled regex."""

    name: str
    spec: str

    @cached_property
    def fields(self) -> tuple[str, ...]:
        return tuple(_FIELD.findall(self.spec))

    @cached_property
    def regex(self) -> re.Pattern[str]:
        """loghub's construction: fields as lazy named groups, spaces as ``\\s+``, anchored."""
        out = []
        for k, part in enumerate(re.split(r"(<[^<>]+>)", self.spec)):
            if k % 2 == 0:
                out.append(re.sub(" +", r"\\s+", part))
            else:
                out.append(f"(?P<{part.strip('<>')}>.*?)")
        return re.compile("^" + "".join(out) + "$")

    @property
    def labelled(self) -> bool:
        """True when each line carries its label (a ``<Label>`` field)."""
        return "Label" in self.fields

    def render(self, values: dict[str, str]) -> str:
        """One line with `values` in place of the fields (a missing field is ``-``). Values other than
        Content must hold no whitespace, as in the real files, or the line will not parse back."""
        literal = re.sub(r"\((.*?)\)\?", r"\1", self.spec)  # optional groups: written
        literal = re.sub(r"\\(.)", r"\1", literal)  # \[ -> [
        return _FIELD.sub(lambda m: values.get(m.group(1), "-"), literal)


def get_format(name: str) -> LogFormat:
    """The format called `name` (case-insensitive); ValueError naming the known ones."""
    for key, spec in FORMATS.items():
        if key.lower() == name.lower():
            return LogFormat(key, spec)
    raise ValueError(f"unknown log format {name!r}; known: {', '.join(FORMATS)}")
