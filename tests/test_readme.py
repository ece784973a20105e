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
