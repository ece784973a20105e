"""Files that hold a run's secrets (join files, the server's accounts): private, and never left behind.

- :func:`write_private` writes a file readable by its owner only (0600), also when the path
  already exists with looser permissions or is a symlink: it writes a new file beside it and
  renames it over the path.
- :func:`private_dir` makes a 0700 temp folder named after this process (``PREFIX-<pid>-...``);
  a run removes its folders (and a join file it wrote elsewhere, noted in the folder's ``owner``
  file) when it ends. After a SIGKILL nothing runs at exit, so :func:`clean_stale`, called when
  the next run starts, removes the folders (and noted files) of processes that no longer exist.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

PREFIXES = ("opstwin-run", "opstwin-xmpp")


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path` as a new 0600 file (see the module docstring)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # 0600, O_EXCL
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def private_dir(prefix: str) -> Path:
    """A fresh 0700 temp folder ``PREFIX-<this pid>-XXXX``."""
    return Path(tempfile.mkdtemp(prefix=f"{prefix}-{os.getpid()}-"))


def note_owned(folder: Path, path: Path) -> None:
    """Record that `path` (outside `folder`) belongs to this run, for :func:`clean_stale`."""
    write_private(folder / "owner.json", json.dumps({"files": [str(Path(path).resolve())]}))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale(tmp: Path | None = None) -> list[Path]:
    """Remove this user's run folders whose process is gone, and the files they noted; what was removed."""
    removed: list[Path] = []
    root = Path(tmp or tempfile.gettempdir())
    for prefix in PREFIXES:
        for folder in sorted(root.glob(f"{prefix}-*-*")):
            pid_text = folder.name[len(prefix) + 1:].split("-", 1)[0]
            try:
                if not pid_text.isdigit() or folder.stat().st_uid != os.getuid() or _alive(int(pid_text)):
                    continue
                owner = folder / "owner.json"
                if owner.is_file():
                    for name in json.loads(owner.read_text()).get("files", []):
                        Path(name).unlink(missing_ok=True)
                        removed.append(Path(name))
            except (OSError, ValueError):
                continue
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed
