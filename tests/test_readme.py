"""The README is the front door: its scenario example must be valid, and its commands exist."""

from __future__ import annotations

import re
from pathlib import Path

from opstwin.cli.main import main
from opstwin.scenarios.loader import parse

import yaml

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_scenario_example_validates():
    block = re.search(r"```yaml\n(.*?)```", README.read_text(), re.S).group(1)
    scenario = parse(yaml.safe_load(block), "README.md")
    assert scenario.name == "shop" and scenario.faults.scheduled[0].type == "memory_leak"


def test_every_command_in_the_readme_table_exists():
    text = README.read_text()
    named = set(re.findall(r"^\| `opstwin (\w+)", text, re.M))
    assert named and named <= set(main.commands)


def _cells(line: str) -> list[str]:
    """A markdown table row's cells (`\\|` inside a cell is not a separator)."""
    return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def readme_synopses() -> list[tuple[tuple[str, ...], str]]:
    """(command path, synopsis) for each `opstwin ...` code span in the CLI table's first column."""
    found = []
    text = README.read_text()
    section = text[text.index("## The `opstwin` command"):]
    section = section[:section.index("\n## ", 5)]
    for line in section.splitlines():
        if not line.startswith("| `opstwin "):
            continue
        for span in re.findall(r"`(opstwin [^`]*)`", _cells(line)[0]):
            words, group, path = span.split()[1:], main, []
            for word in words:
                sub = getattr(group, "commands", {}).get(word)
                if sub is None:
                    break
                path.append(word)
                group = sub
            found.append((tuple(path), span))
    return found


def command(path: tuple[str, ...]):
    cmd = main
    for word in path:
        cmd = cmd.commands[word]
    return cmd


def test_the_readme_table_and_help_list_the_same_options():
    synopses = readme_synopses()
    assert {p for p, _ in synopses} >= {("run",), ("validate",), ("list",), ("eval",), ("bench", "twin")}
    for path, span in synopses:
        cmd = command(path)
        assert not hasattr(cmd, "commands"), f"README row `{span}` names a group, not a command"
        written = set(re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", span))
        params = [p for p in cmd.params if p.param_type_name == "option" and "--help" not in p.opts]
        listed = {p.name for p in params if written & set(p.opts + p.secondary_opts)}
        unknown = written - {o for p in params for o in p.opts + p.secondary_opts}
        missing = sorted(p.opts[0] for p in params if p.name not in listed)
        where = "opstwin " + " ".join(path)
        assert not unknown, f"README lists {sorted(unknown)} for `{where}`, which has no such option"
        assert not missing, f"`{where} --help` has {missing}, which the README's CLI table does not list"
