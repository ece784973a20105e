"""opstwin: a digital-twin testbed for autonomous incident response.

The repository keeps one folder per concern at its top level (twin/, faults/, agents/, rl/,
scenarios/, viz/); they install under this namespace as ``opstwin.twin``, ``opstwin.agents``, ...
This folder holds what joins them: the run engine, evaluation, benchmarks and the CLI.
See docs/architecture.md.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("opstwin")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0+unknown"
