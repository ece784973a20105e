"""Loading scenario files: YAML in, a validated :class:`Scenario` out, or every problem.

Problems carry the field path (``topology.services[2].host``) and the YAML line, so an editor
or a user can jump to them. Synthetic topologies (``topology.generate``) are expanded here,
from the scenario seed, so everything downstream sees concrete hosts and services.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from opstwin.faults.targets import Names, fault_errors
from opstwin.agents.policies import PolicyError, check_policy
from opstwin.scenarios.errors import Problem, ScenarioError
from opstwin.scenarios.limits import LimitError, parse_yaml, read_capped, size_errors
from opstwin.scenarios.schema import Scenario
from opstwin.scenarios.semantics import semantic_errors, semantic_warnings
from opstwin.twin.control import ACTIONS
from opstwin.twin.spec import reference_errors
from opstwin.twin.synthetic import generate

Path_ = tuple[str | int, ...]


def _lines(node: yaml.Node, path: Path_ = (), out: dict[Path_, int] | None = None) -> dict[Path_, int]:
    """Map each field path in a composed YAML tree to its 1-based line."""
    out = {} if out is None else out
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            k = key.value
            out[(*path, k)] = key.start_mark.line + 1
            _lines(value, (*path, k), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _lines(item, (*path, i), out)
    return out


def _dotted(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text


def _parse_path(dotted: str) -> Path_:
    parts: list[str | int] = []
    for chunk in dotted.replace("]", "").split("."):
        name, *idx = chunk.split("[")
        if name:
            parts.append(name)
        parts.extend(int(i) for i in idx)
    return tuple(parts)


def _line_of(lines: dict[Path_, int], path: Path_) -> int | None:
    while path and path not in lines:
        path = path[:-1]
    return lines.get(path)


def _duplicate_keys(node: yaml.Node, path: Path_ = ()) -> list[tuple[Path_, int, int]]:
    """(path, line, line of the first) for every mapping key given twice (YAML keeps the last)."""
    out: list[tuple[Path_, int, int]] = []
    if isinstance(node, yaml.MappingNode):
        first: dict[Any, int] = {}
        for key, value in node.value:
            line = key.start_mark.line + 1
            if key.value in first:
                out.append(((*path, key.value), line, first[key.value]))
            first.setdefault(key.value, line)
            out += _duplicate_keys(value, (*path, key.value))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out += _duplicate_keys(item, (*path, i))
    return out


def _is_tag(part: Any) -> bool:
    """Whether a location part names a union member (``constrained-str``, ``Dependency``, ...)."""
    if not isinstance(part, str):
        return False
    return part in ("str", "int", "float", "bool", "none") or part[:1].isupper() or "[" in part or part.startswith(
        ("function-", "constrained-", "lax-", "json-", "tagged-"))


def _data_loc(data: Any, loc: tuple[Any, ...]) -> Path_:
    """A pydantic error location without union-member tags: keys and indexes found in `data` are
    kept whatever they look like (a service named ``str-cache``), other parts unless tag-like."""
    out: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            node = None
            if _is_tag(part):
                continue
        out.append(part)
    return tuple(out)


def _message(err: dict[str, Any]) -> str:
    kind, msg = err["type"], err["msg"]
    if kind == "extra_forbidden":
        return "unknown key (not part of the scenario format; see `opstwin schema`)"
    if kind == "missing":
        return "required field is missing"
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    if "input" in err and not isinstance(err["input"], (dict, list)) and repr(err["input"]) not in msg:
        return f"{msg} (got {err['input']!r})"
    return msg


def parse(data: Any, file: str = "<scenario>", lines: dict[Path_, int] | None = None) -> Scenario:
    """Validate already-parsed YAML data; raise ScenarioError listing every problem."""
    lines = lines or {}
    if not isinstance(data, dict):
        raise ScenarioError([Problem(file, "", "a scenario must be a YAML mapping of keys to values", 1)])
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = _data_loc(data, err["loc"])
            problems.append(Problem(file, _dotted(loc), _message(err), _line_of(lines, loc)))
        raise ScenarioError(problems) from None
    too_big = size_errors(scenario)  # before generating a topology or walking its services
    if too_big:
        raise ScenarioError([Problem(file, p, m, _line_of(lines, _parse_path(p))) for p, m in too_big])
    if scenario.topology.generate is not None:
        scenario = scenario.model_copy(update={"topology": generate(scenario.topology.generate, scenario.seed)})
    problems = [
        Problem(file, path, msg, _line_of(lines, _parse_path(path)))
        for path, msg in reference_errors(scenario.topology, scenario.deployments)
    ]
    problems += [Problem(file, p, m, _line_of(lines, _parse_path(p))) for p, m in extra_checks(scenario)]
    if problems:
        raise ScenarioError(problems)
    return scenario


def extra_checks(scenario: Scenario) -> list[tuple[str, str]]:
    """Cross-checks between sections (load weights, deployment times, fault targets, action names)."""
    names = {s.name for s in scenario.topology.services}
    entries = set(Names.of(scenario.topology).entries)  # as the twin decides
    out = []
    for key in scenario.load.weights:
        if key not in names:
            out.append((f"load.weights.{key}", f"unknown service {key!r}"))
        elif key not in entries:
            out.append((f"load.weights.{key}", f"{key!r} is not an entry service; weights share user traffic among "
                                               f"entry services ({', '.join(sorted(entries))})"))
    for i, dep in enumerate(scenario.deployments):
        if dep.at >= scenario.duration:
            out.append((f"deployments[{i}].at", "deployment is scheduled after the end of the run"))
    out += _confounder_errors(scenario, names, entries)
    out += fault_errors(scenario.faults, scenario.topology, scenario.duration)
    for key in scenario.actions:
        if key not in ACTIONS:
            out.append((f"actions.{key}", f"unknown action {key!r}; known: {', '.join(ACTIONS)}"))
    for i, spec in enumerate(scenario.agents.specialists):
        try:
            check_policy(spec.policy)
        except PolicyError as exc:
            out.append((f"agents.specialists[{i}].policy", str(exc)))
    return out + semantic_errors(scenario)


def _confounder_errors(scenario: Scenario, names: set[str], entries: set[str]) -> list[tuple[str, str]]:
    """Flash crowds hit entry services, routine deployments existing services, all within the run."""
    out = []
    for i, surge in enumerate(scenario.load.surges):
        if surge.entry is not None and surge.entry not in entries:
            out.append((f"load.surges[{i}].entry", f"{surge.entry!r} is not an entry service "
                                                   f"({', '.join(sorted(entries))})"))
        if surge.at >= scenario.duration:
            out.append((f"load.surges[{i}].at", "surge starts after the end of the run"))
    rs = scenario.load.random_surges
    if rs is not None and rs.start >= scenario.duration:
        out.append(("load.random_surges.start", "surges start after the end of the run"))
    for i, rd in enumerate(scenario.random_deployments):
        for j, svc in enumerate(rd.services or []):
            if svc not in names:
                out.append((f"random_deployments[{i}].services[{j}]", f"unknown service {svc!r}"))
        if rd.start >= scenario.duration:
            out.append((f"random_deployments[{i}].start", "window starts after the end of the run"))
    return out


def load(path: str | Path) -> Scenario:
    """Read and validate one scenario file."""
    return load_checked(path)[0]


def load_checked(path: str | Path) -> tuple[Scenario, list[Problem]]:
    """Read and validate one scenario file; also return its warnings (legal, but probably not meant)."""
    file = str(path)
    text = read_capped(path, file)
    try:
        node, data = parse_yaml(text)
    except LimitError as exc:
        what = "not a usable number" if exc.path else "too big or too deep for a scenario"
        raise ScenarioError([Problem(file, _dotted(exc.path), f"{what}: {exc.message}", exc.line)]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ScenarioError([Problem(file, "", f"not valid YAML: {problem}", line)]) from None
    lines = _lines(node) if node is not None else {}
    problems = [Problem(file, _dotted(p), f"key given twice (first at line {first}); keep one", line)
                for p, line, first in (_duplicate_keys(node) if node is not None else [])]
    try:
        scenario = parse(data, file, lines)
    except ScenarioError as exc:
        raise ScenarioError(problems + exc.problems) from None
    if problems:
        raise ScenarioError(problems)
    warnings = [Problem(file, p, f"warning: {m}", _line_of(lines, _parse_path(p)))
                for p, m in semantic_warnings(scenario)]
    return scenario, warnings
