"""What every command shares: the one-line failure, and the check of an output folder.

Its own module so that command modules (``opstwin.cli.logs``) import it without importing
``opstwin.cli.main``, which imports them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import click


def fail(message: str, code: int = 2) -> NoReturn:
    """One line `opstwin: ...` on stderr and exit (2: bad input); never a traceback."""
    click.echo(f"opstwin: {message}", err=True)
    sys.exit(code)


def check_out(out: Path, force: bool, replaceable: frozenset[str] = frozenset()) -> None:
    """Refuse to write results over a non-empty folder (or onto a file) unless --force. A folder
    holding only `replaceable` files (a previous run's own output) is rewritten: nothing else is lost."""
    if out.exists() and not out.is_dir():
        fail(f"--out {out}: is a file, not a folder")
    if out.is_dir() and any(p.name not in replaceable for p in out.iterdir()) and not force:
        fail(f"--out {out}: folder is not empty; pick another or add --force to write over it")
    try:
        probe_writable(out)
    except OSError as exc:
        fail(f"--out {out}: cannot write there ({exc.strerror or exc})")


def probe_writable(folder: Path) -> None:
    """Create `folder` (and parents) and a file in it, then remove what was made: a read-only or
    missing place fails here, before a run, rather than halfway through one."""
    import tempfile

    made = []
    for parent in reversed([folder, *folder.parents]):
        if not parent.exists():
            parent.mkdir()
            made.append(parent)
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    finally:
        for path in reversed(made):
            path.rmdir()
