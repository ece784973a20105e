"""Recording a run's telemetry as series: what RCA methods read (``opstwin run --record-series``).

Off by default: an ordinary run keeps nothing but the incident log, the summary and H. With it, a
:class:`SeriesRecorder` watches every frame (a frame hook: it reads, never decides, so the
incident log is the same byte for byte) and the run folder gets

- ``series.npz``: one column per (entity kind, metric), each a (ticks x entities) float32 array,
  written compressed (``numpy.savez_compressed``); the entity names, where each service ran each
  tick (a migration moves it), each service's memory limit and the tick times beside them. No
  fault and no health H are in it: it is telemetry as agents saw it, noise and scrape gaps
  included. Loads without pickle (:func:`load`).
- ``logs.csv.gz``: the WARN/ERROR lines of every service that wrote any, as text (rendered only
  here; at most ``LOG_LINES`` a service a tick, a proportional sample as the monitor reads them):
  ``time,service,line``.

Memory is about 4 bytes x 13 metrics x services x ticks (120 services for 8 h: 18 MB).
"""

from __future__ import annotations

import csv
import gzip
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from opstwin.twin.logs import EPOCH
from opstwin.twin.telemetry import Frame

if TYPE_CHECKING:
    from opstwin.engine.simulation import Simulation

SERVICE_METRICS = ("rate", "throughput", "p50", "p99", "error", "cpu", "memory", "restarts", "up")
HOST_METRICS = ("host_cpu", "host_rtt")
DISK_METRICS = ("disk_used", "disk_io_errors")
SERIES_FILE = "series.npz"
LOGS_FILE = "logs.csv.gz"
LOG_LINES = 20  # lines of text kept per service and tick (the monitor's own reading budget)
FORMAT = 1  # bump when the file's layout changes


class SeriesRecorder:
    """A frame hook that copies each tick's telemetry into preallocated columns (see the module)."""

    def __init__(self, ticks: int, logs: bool = True) -> None:
        self.ticks = ticks
        self.logs = logs
        self.k = 0
        self.columns: dict[str, np.ndarray] = {}
        self.t = np.zeros(ticks, dtype=np.float64)
        self.svc_host = np.zeros((0, 0), dtype=np.int32)
        self.lines: list[tuple[float, int, str]] = []
        self.meta: dict[str, Any] = {}

    def _allocate(self, sim: Simulation, frame: Frame) -> None:
        topo = sim.twin.topo
        sizes = {**dict.fromkeys(SERVICE_METRICS, len(frame.rate)), **dict.fromkeys(HOST_METRICS, len(frame.host_cpu)),
                 **dict.fromkeys(DISK_METRICS, len(frame.disk_used))}
        self.columns = {m: np.zeros((self.ticks, n), dtype=np.float32) for m, n in sizes.items()}
        self.svc_host = np.zeros((self.ticks, len(frame.rate)), dtype=np.int32)
        self.meta = {"services": np.array(topo.services, dtype=str), "hosts": np.array(topo.hosts, dtype=str),
                     "disks": np.array(topo.disks, dtype=str), "svc_disk": topo.svc_disk.astype(np.int32),
                     "mem_limit": np.asarray(sim.twin.mem_limit, dtype=np.float64).copy(),
                     "scenario": np.array(sim.scenario.name), "seed": np.array(sim.seed, dtype=np.int64),
                     "tick": np.array(sim.scenario.tick, dtype=np.float64), "epoch": np.array(EPOCH, dtype=np.int64),
                     "format": np.array(FORMAT, dtype=np.int64)}
        self._names = topo.services

    def __call__(self, sim: Simulation, frame: Frame) -> None:
        if self.k == 0:
            self._allocate(sim, frame)
        if self.k >= self.ticks:
            return
        k = self.k
        self.t[k] = frame.t
        for m, col in self.columns.items():
            col[k] = getattr(frame, m)
        self.svc_host[k] = frame.svc_host
        if self.logs:
            writers = frame.logs.writers()
            if len(writers):
                self.lines.extend((frame.t, line.service, line.text) for line in frame.logs.read(writers, LOG_LINES))
        self.k += 1

    def save(self, out_dir: Path) -> None:
        """series.npz (and logs.csv.gz) in `out_dir`, holding the ticks recorded so far."""
        if not self.columns:
            return
        k = self.k
        np.savez_compressed(Path(out_dir) / SERIES_FILE, t=self.t[:k], svc_host=self.svc_host[:k], **self.meta,
                            **{f"m_{m}": col[:k] for m, col in self.columns.items()})
        if self.logs:
            with gzip.open(Path(out_dir) / LOGS_FILE, "wt", newline="", compresslevel=6) as fh:
                w = csv.writer(fh)
                w.writerow(["time", "service", "line"])
                w.writerows((f"{t:.1f}", self._names[s], text) for t, s, text in self.lines)


class Series:
    """A recorded run's series, loaded (see :func:`load`)."""

    def __init__(self, data: dict[str, np.ndarray]) -> None:
        self.t = data["t"]
        self.svc_host = data["svc_host"]
        self.services = [str(s) for s in data["services"]]
        self.hosts = [str(s) for s in data["hosts"]]
        self.disks = [str(s) for s in data["disks"]]
        self.svc_disk = data["svc_disk"]
        self.mem_limit = data["mem_limit"]
        self.tick = float(data["tick"])
        self.epoch = int(data["epoch"])
        self.columns = {k[2:]: v for k, v in data.items() if k.startswith("m_")}


def load(run_dir: Path) -> Series:
    """The series a run recorded; FileNotFoundError when it recorded none."""
    path = Path(run_dir) / SERIES_FILE
    with np.load(path, allow_pickle=False) as z:
        return Series({k: z[k] for k in z.files})
