"""The quick commands stay quick: they import none of the heavy libraries (not a timing test).

`opstwin --version`, `validate`, `schema`, `faults` and `list` answer in well under a second
because scikit-learn, matplotlib, dask, SPADE and torch are imported only by the commands that
use them. `python -X importtime` names every module a process imports.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("sklearn", "matplotlib", "dask", "distributed", "spade", "torch")
EHR = Path(__file__).resolve().parents[1] / "scenarios" / "ehr.yaml"


def imported(*args: str) -> set[str]:
    """Top-level packages a fresh `opstwin ARGS` imports."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "opstwin.cli.main", *args],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    names = re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s*([\w.]+)$", proc.stderr, re.M)
    assert names, "no -X importtime output"
    return {n.split(".")[0] for n in names}


@pytest.mark.parametrize("args", [("--version",), ("validate", str(EHR)), ("validate", "ehr"), ("schema",),
                                  ("faults",), ("faults", "--json"), ("list",), ("list", "--json")])
def test_quick_commands_import_no_heavy_library(args):
    heavy = imported(*args) & set(HEAVY)
    assert not heavy, f"opstwin {' '.join(args)} imports {sorted(heavy)}; import them lazily"
