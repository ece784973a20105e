"""Limits on scenario input, checked before any walk whose cost grows with them.

A scenario file is read with a size cap (``validate /dev/zero`` reads 1 MiB, not the disk), and
parsed once by a YAML loader that counts as it composes: nesting depth, aliases, and nodes after
alias expansion (a 447-byte "billion laughs" file is 10^9 nodes; ``&x [*x]`` is infinite).
Integers longer than any real quantity are refused at parse time (Python refuses 4,300+ digits
with a ValueError of its own; 310+ digits overflow a float). After validation, the size of
the run itself is bounded (services, ticks, and their product) before a topology is generated.
Every limit is one :class:`~opstwin.scenarios.errors.Problem`, never a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from opstwin.scenarios.errors import Problem, ScenarioError

MAX_BYTES = 1 << 20  # a hand-written 10,000-service topology is well under this; big ones use `generate`
MAX_DEPTH = 32  # the scenario format nests 7 deep
MAX_ALIASES = 1_000
MAX_NODES = 250_000  # YAML nodes after alias expansion
MAX_INT_DIGITS = 24  # 2^64 has 20 digits; bytes of a petabyte 16
MAX_SERVICES = 200_000  # generated or written (a written list stops at MAX_BYTES long before); the scale the twin is built for
MAX_TICKS = 1_000_000  # duration / tick
MAX_SERVICE_TICKS = 2_000_000_000  # services x ticks: about an hour of stepping


def read_capped(path: str | Path, file: str) -> str:
    """The file's text, refusing more than MAX_BYTES (read no further) and non-UTF-8 bytes."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ScenarioError([Problem(file, "", f"cannot read file: {exc.strerror or exc}")]) from None
    if len(raw) > MAX_BYTES:
        raise ScenarioError([Problem(file, "", f"file is larger than {MAX_BYTES // 1024} KiB; a scenario is a "
                                               "short text file (use topology.generate for big topologies)")])
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError([Problem(file, "", f"not a UTF-8 text file (byte {exc.start})")]) from None


class LimitError(yaml.YAMLError):
    """A YAML document over one of the limits; `line` is where it was found."""

    def __init__(self, message: str, mark: Any, node: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = mark.line + 1 if mark is not None else None
        self.node = node  # the offending node, where known
        self.path: tuple[str | int, ...] = ()  # its field path, once found in the document


class CountingLoader(yaml.SafeLoader):
    """PyYAML's safe loader, counting depth, aliases and expanded nodes as it composes."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0
        self._nodes = 0  # nodes so far, aliases counted as the size of what they point to
        self._size: dict[int, int] = {}  # id(node) -> expanded size, for anchored nodes
        self._open: set[str] = set()  # anchors whose node is being composed

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise LimitError(f"more than {MAX_ALIASES} aliases", event.start_mark)
            if event.anchor in self._open:
                raise LimitError(f"alias *{event.anchor} refers to the node that contains it (an endless structure)",
                                 event.start_mark)
            node = super().compose_node(parent, index)
            self._count(self._size.get(id(node), 1), event.start_mark)
            return node
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise LimitError(f"nested more than {MAX_DEPTH} levels deep", event.start_mark)
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            self._open.add(anchor)
        before = self._nodes
        self._count(1, event.start_mark)
        node = super().compose_node(parent, index)
        if anchor is not None:
            self._open.discard(anchor)
            self._size[id(node)] = self._nodes - before
        self._depth -= 1
        return node

    def _count(self, n: int, mark: Any) -> None:
        self._nodes += n
        if self._nodes > MAX_NODES:
            raise LimitError(f"more than {MAX_NODES:,} values once aliases are expanded", mark)

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        digits = sum(c.isdigit() for c in str(node.value))
        if digits > MAX_INT_DIGITS:
            raise LimitError(f"an integer of {digits} digits; numbers in a scenario have at most {MAX_INT_DIGITS}",
                             node.start_mark, node)
        return super().construct_yaml_int(node)


CountingLoader.add_constructor("tag:yaml.org,2002:int", CountingLoader.construct_yaml_int)


def parse_yaml(text: str) -> tuple[yaml.Node | None, Any]:
    """(composed node, data) of one YAML document, parsed once within the limits.

    Raises yaml.YAMLError (LimitError for a limit) like ``yaml.safe_load``."""
    loader = CountingLoader(text)
    try:
        node = loader.get_single_node()
        try:
            data = loader.construct_document(node) if node is not None else None
        except LimitError as exc:
            exc.path = path_of(node, exc.node)
            raise
    finally:
        loader.dispose()
    return node, data


def path_of(root: yaml.Node, target: Any) -> tuple[str | int, ...]:
    """The field path of node `target` in the composed document `root` (() if not found)."""
    stack: list[tuple[yaml.Node, tuple[str | int, ...]]] = [(root, ())]
    seen: set[int] = set()
    while stack:
        node, path = stack.pop()
        if node is target:
            return path
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            stack += [(v, (*path, str(k.value))) for k, v in node.value]
        elif isinstance(node, yaml.SequenceNode):
            stack += [(v, (*path, i)) for i, v in enumerate(node.value)]
    return ()


def size_errors(scenario: Any) -> list[tuple[str, str]]:
    """(field path, problem) for a run too big to validate or to finish: checked before `generate`."""
    out: list[tuple[str, str]] = []
    gen = scenario.topology.generate
    services = gen.services if gen is not None else len(scenario.topology.services)
    where = "topology.generate.services" if gen is not None else "topology.services"
    if services > MAX_SERVICES:
        out.append((where, f"{services:,} services; a scenario has at most {MAX_SERVICES:,}"))
    if gen is not None and gen.hosts is not None and gen.hosts > gen.services:
        out.append(("topology.generate.hosts", f"{gen.hosts:,} hosts for {gen.services:,} services; "
                                               "at most one host per service"))
    ticks = scenario.duration / scenario.tick
    if ticks > MAX_TICKS:
        out.append(("duration", f"the run would take {ticks:,.0f} ticks (duration / tick); at most {MAX_TICKS:,}"))
    elif services * ticks > MAX_SERVICE_TICKS and services <= MAX_SERVICES:
        out.append(("duration", f"{services:,} services for {ticks:,.0f} ticks is {services * ticks:,.0f} "
                                f"service-ticks; at most {MAX_SERVICE_TICKS:,} (shorten the run or the topology)"))
    return out
