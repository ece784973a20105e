"""Layering: what agents may import. Agents observe telemetry and act through an action port, so
no module in agents/ imports the live twin (twin.model) or a layer above them (scenarios, the
engine, evaluation, the CLI, faults); SPADE stays inside agents/xmpp/."""

from __future__ import annotations

import ast
from pathlib import Path

import opstwin.agents

AGENTS = Path(opstwin.agents.__file__).resolve().parent
ABOVE = ("opstwin.twin.model", "opstwin.scenarios", "opstwin.engine", "opstwin.evaluation", "opstwin.cli",
         "opstwin.faults")


def imports(path: Path) -> set[str]:
    """Every module a file imports, at top level or inside functions."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
    return names


def under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def test_no_agents_module_imports_the_twin_model_or_a_layer_above():
    files = sorted(AGENTS.rglob("*.py"))
    assert len(files) > 10
    bad = {str(f.relative_to(AGENTS)): sorted(n for n in imports(f) if any(under(n, p) for p in ABOVE))
           for f in files}
    assert {f: n for f, n in bad.items() if n} == {}


def test_spade_is_imported_only_inside_agents_xmpp():
    bad = {str(f.relative_to(AGENTS)): sorted(n for n in imports(f) if under(n, "spade"))
           for f in sorted(AGENTS.rglob("*.py")) if "xmpp" not in f.relative_to(AGENTS).parts}
    assert {f: n for f, n in bad.items() if n} == {}
