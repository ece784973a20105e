"""Shared fixtures: a small hand-written cloud and a CLI runner that works in a temp folder.

The cloud (``small_topology``) is three services on three hosts::

    web (entry, h1, disk d1) --calls 2--> api (h2, disk d2) --calls 0.5--> db (h2, standby h3)

With the ``twin`` factory's defaults (50 requests/s, no daily cycle, no noise) web receives 50
requests/s, api 100 and db 50, every service well below saturation.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from opstwin.cli.main import main
from opstwin.twin.model import Twin
from opstwin.twin.spec import DiurnalSpec, LoadSpec, TopologySpec


def sigint_default() -> None:
    """`preexec_fn` for a child a test interrupts with SIGINT: a shell that starts the suite in the
    background leaves SIGINT ignored, the child inherits that, and Ctrl-C would never reach it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextlib.contextmanager
def child(args: list, **kwargs):
    """A command a test will Ctrl-C (see `ctrl_c`), its output piped as text; killed when the test leaves."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=sigint_default, **kwargs)
    try:
        yield proc
    finally:
        proc.kill()


def ctrl_c(proc: subprocess.Popen, timeout: float = 60.0) -> str:
    """Send SIGINT; the command must stop with exit 130 and one line, no traceback. Its stderr."""
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err
    return err


@pytest.fixture
def small_topology() -> TopologySpec:
    return TopologySpec.model_validate({
        "hosts": [
            {"name": "h1", "cpu": 16, "disks": [{"name": "d1", "size": "100GB", "used": "10GB"}]},
            {"name": "h2", "cpu": 16, "disks": [{"name": "d2", "size": "100GB", "used": "10GB"}]},
            {"name": "h3", "cpu": 16, "disks": [{"name": "d3", "size": "100GB"}]},
        ],
        "services": [
            {"name": "web", "host": "h1", "entry": True, "replicas": 2, "capacity": 100, "latency": "20ms",
             "slo": "500ms", "disk": "d1", "depends_on": [{"service": "api", "calls": 2}]},
            {"name": "api", "host": "h2", "replicas": 2, "capacity": 200, "latency": "10ms", "disk": "d2",
             "depends_on": [{"service": "db", "calls": 0.5}]},
            {"name": "db", "host": "h2", "standby_host": "h3", "replicas": 1, "capacity": 500, "latency": "5ms",
             "disk": "d2"},
        ],
    })


@pytest.fixture
def make_twin(small_topology):
    """Twin(...) over the small topology with a flat, noiseless 50 requests/s unless told otherwise."""

    def make(topology: TopologySpec | None = None, *, rps: float = 50.0, amplitude: float = 0.0,
             noise: float = 0.0, deployments=(), seed: int = 0, tick: float = 10.0) -> Twin:
        load = LoadSpec(rps=rps, noise=noise, diurnal=DiurnalSpec(amplitude=amplitude))
        return Twin(topology or small_topology, load, list(deployments), seed=seed, tick=tick)

    return make


SMALL_SCENARIO = """\
name: small
seed: 3
duration: 10m
tick: 10s
topology:
  hosts:
    - {name: h1, disks: [{name: d1, size: 100GB}]}
    - {name: h2}
  services:
    - {name: web, host: h1, entry: true, disk: d1, depends_on: [api]}
    - {name: api, host: h2, depends_on: [{service: db, calls: 2}]}
    - {name: db, host: h2}
load:
  rps: 80
  noise: 0.05
"""


class Cli:
    """Runs `opstwin` in-process with the current folder set to a temp folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def write(self, name: str, text: str) -> Path:
        path = self.folder / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    def __call__(self, *args: str):
        with contextlib.chdir(self.folder):
            return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def cli(tmp_path) -> Cli:
    return Cli(tmp_path)


@pytest.fixture
def small_scenario(cli) -> Path:
    """A valid scenario file (3 services, 10 minutes) in the temp folder."""
    return cli.write("small.yaml", SMALL_SCENARIO)


@pytest.fixture
def no_leftovers():
    """Fails a test that leaves a child process (a server, an agent worker) running."""
    from xmpp_helpers import children

    before = set(children())
    yield
    left = set(children()) - before
    assert not left, f"processes left behind: {sorted(left)}"


@pytest.fixture
def no_failures(monkeypatch):
    """Control-plane actions that never fail (their seeded failure draw is made moot)."""
    from opstwin.twin.control import ACTIONS

    for kind in ACTIONS.values():
        monkeypatch.setattr(kind, "fail_probability", 0.0)
