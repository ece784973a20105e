"""The scenario library: the *.yaml files shipped in this package, found by name.

`opstwin list` shows it and `opstwin run ehr` runs a library scenario by name. The folder is
found through the installed package (not the current directory), so it works from anywhere.
Listing reads the YAML only (no validation, no topology generation) to stay fast.
"""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from opstwin.twin.units import format_clock, parse_duration


class NotFound(LookupError):
    """An argument that is neither an existing path nor a library scenario name."""


@dataclass
class Entry:
    name: str
    file: str
    services: int | None
    duration: str
    faults: str
    description: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def folder() -> Path:
    """The installed library folder (this package's own folder)."""
    return Path(str(resources.files("opstwin.scenarios")))


def files() -> dict[str, Path]:
    """Library scenario names (file stems) and their files, sorted by name."""
    root = folder()
    found = [*root.glob("*.yaml"), *root.glob("*/*.yaml")]
    return {p.stem: p for p in sorted(found, key=lambda p: p.stem)}


def resolve(arg: str | Path) -> Path:
    """A path that exists wins; else a library name (with or without .yaml); else NotFound
    naming both places looked at and the closest names."""
    path = Path(arg)
    if path.exists():
        return path
    library = files()
    name = path.name.removesuffix(".yaml").removesuffix(".yml") if path.parent == Path(".") else None
    if name in library:
        return library[name]
    close = difflib.get_close_matches(name or path.stem, library, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else f"; the library has {', '.join(library)}"
    raise NotFound(f"{arg}: no such file, and no library scenario of that name (library: {folder()}){hint}")


def _header(text: str) -> str:
    """The first line of the file's leading comment block (the fallback description)."""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped.startswith("#"):
            return ""
        if stripped.lstrip("#").strip():
            return stripped.lstrip("#").strip()
    return ""


def _faults(faults: Any) -> str:
    """`N scheduled + random R/h` from a raw `faults:` section."""
    faults = faults if isinstance(faults, dict) else {}
    parts = []
    scheduled = faults.get("scheduled") or []
    if scheduled:
        parts.append(f"{len(scheduled)} scheduled")
    rates = [r.get("rate_per_hour", 0) for r in faults.get("random") or [] if isinstance(r, dict)]
    if rates:
        parts.append(f"random {sum(rates):g}/h")
    return " + ".join(parts) or "none"


def _services(topology: Any) -> int | None:
    if not isinstance(topology, dict):
        return None
    if isinstance(topology.get("generate"), dict):
        return topology["generate"].get("services")
    return len(topology.get("services") or [])


def _duration(value: Any) -> str:
    try:
        return format_clock(parse_duration(value))
    except ValueError:
        return str(value)


def entry(path: Path) -> Entry:
    """One library line from a scenario file's raw YAML."""
    import yaml

    text = path.read_text(encoding="utf-8")
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError:
        raw = None
    raw = raw if isinstance(raw, dict) else {}
    return Entry(name=path.stem, file=str(path), services=_services(raw.get("topology")),
                 duration=_duration(raw.get("duration", "")), faults=_faults(raw.get("faults")),
                 description=str(raw.get("description") or _header(text)))


def entries() -> list[Entry]:
    return [entry(p) for p in files().values()]
