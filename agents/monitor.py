"""The monitor: learns each service's normal behaviour, then raises alerts with evidence.

It runs where the telemetry is made (the twin's process) and is fed every frame; only its
alerts travel. It knows what an operator knows (the topology, the SLOs, the tick) and what the
frames show: never the twin itself.

Detection is two-stage so that 10,000 services fit in a tick:

1. a vectorized rule screen over its whole shard: errors, p99 against SLO and baseline,
   memory, restarts, replicas down, ERROR log volume against a Poisson bound, request
   rate against its hourly average;
   per disk: usage, time to full, IO errors; per host: CPU demand over capacity, or CPU its services' load does not
   explain against its own hourly baseline (a noisy neighbour before the host saturates), and
   network round trip against its baseline (what a node exporter reports);
2. the learned detector (IsolationForest, LOF, one-class SVM; or none for `threshold`),
   fitted on warm-up feature vectors normalized per service, scores only the services the
   screen flagged, and decides the borderline ones; symptoms no healthy service shows
   (replicas down, restarts, p99 over SLO or 5x its baseline, errors over 5%) need no second
   opinion. (Tree
   ensembles isolate a point far outside the training range no faster than one at its
   edge, so a learned model alone under-reports gross failures.) The latency rule reads p99
   smoothed on the way up (an EWMA over about 100 s, reset by any lower sample): one noisy
   tick over SLO is not a breach, and telemetry is noisy (see ``twin.noise``); the error rules also need enough failed requests
   over the baseline's count (a Poisson bound), since on a service with few requests a single
   failure is a large share.

A component alerts after `persistence` flagged ticks among its last `window` (by default
consecutive ticks; k of n is opt-in, see Monitor.window) and clears after `clear_after` consecutive
normal ones; restarts and failed requests are counted over windows, so an intermittent one adds up. A service does not start alerting during or within CHANGE_GRACE after a change on it (an action on it,
its host or its disk, as the frame's change feed shows) or on anything it calls: a restart's dip
or a network reset's dropped connections, and their echo upstream, are the change's, as an SRE silences alerts for a maintenance window. What
still looks wrong after the grace alerts; what already alerted stays alerting. Alerts name symptoms (``errors``, ``latency``, ``memory``, ``restarts``, ``down``,
``log:<signal>`` (a signal of the mined log templates, agents/logreader.py), ``rate_spike``, ``disk_usage``, ``disk_filling``, ``io_errors``,
``host_cpu``, ``host_net_latency``, ``memory_growth``: memory that, growing steadily while
load does not, will reach the GC threshold within an hour, and ``latency_regression``: p99 since a
version change twice its level before it, as deployment verification would see, even within SLO)
with their values.

Asked by the guard (``sli_query``), a monitor answers with an SLI of the services asked for
that are in its shard, from its latest frame, as counts of objectives met: each service has
three, being up, an error rate under max(1%, 3x its learned baseline), and p99 within its SLO.
(Counting objectives rather than wholly good services lets a harmful action show even when the
incident already broke one objective of every service in scope.)
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from opstwin.agents.base import Agent, Context
from opstwin.agents.detectors import make_detector
from opstwin.agents.messages import Alert, Message, Sli, SliQuery
from opstwin.agents.spec import MonitorSpec
from opstwin.agents.logreader import LogReader
from opstwin.twin.telemetry import Frame
from opstwin.twin.topology import Topology

RECENT_DEPLOY = 7200.0  # a deployment this recent is evidence
MAX_TRAIN_ROWS = 4000
LOG_WINDOW = 30  # ticks over which log signals are counted (as an SRE reads the last few minutes)
READ_SERVICES = 64  # services whose lines a monitor reads per tick (those writing most first)
READ_LINES = 12  # lines read per service per tick
ALERT_TEMPLATES = 3  # log templates an alert carries (the most read in the window), with their counts
RESTART_WINDOW = 6  # ticks over which restarts are counted
ERROR_WINDOW = 6  # ticks over which failed requests are counted
CHANGE_GRACE = 120.0  # seconds after a change window (an action) on a service before it may start alerting
SLI_ERROR_FLOOR = 0.01  # a service's error rate counts as good below max(this, SLI_ERROR_FACTOR x baseline)
SLI_ERROR_FACTOR = 3.0
SLI_OBJECTIVES = 3  # per service: up, errors, p99
SLI_HISTORY = 8  # ticks of objectives kept, so the guard can ask how things stood just before an action took effect
ERROR_COUNT_SIGMAS = 3.0  # an error rule needs this many Poisson sigmas of failed requests over the baseline
LATENCY_SMOOTHING = 0.1  # EWMA weight of a tick's p99 in the latency rule: a p99 over SLO must last, not blip
# memory trend: a fast and a slow EWMA of each service's memory; their gap over their lag is the growth rate
MEMORY_FAST, MEMORY_SLOW = 300.0, 1200.0  # seconds (time constants)
MEMORY_LIMIT = 0.8  # share of the limit where GC pauses start: the threshold a trend is projected to
MEMORY_HORIZON = 3600.0  # seconds: growth that reaches MEMORY_LIMIT this soon is a symptom (memory_growth)
MEMORY_MIN_GROWTH = 0.05 / 3600  # share per second: slower drift (diurnal load) is not a trend
MEMORY_MIN_RISE = 0.05  # and memory must stand this far above its warm-up level
# deployment verification (as canary analysis does): p99 after a version change against before it
VERIFY_WINDOW = 3600.0  # seconds after a version change during which its latency is compared
LATENCY_BEFORE = 1800.0  # seconds: time constant of the slow p99/SLO average a release is compared with
REGRESSION_FACTOR = 2.0  # p99 this many times its level before the release ...
REGRESSION_MIN = 0.03  # ... and at least this much more (a share of the SLO): a latency_regression
# host CPU against the host's own baseline: CPU that its services' load does not explain (a noisy neighbour
# that has not yet pushed the host past 1.0, where services start to queue)
HOST_CPU_BUSY = 0.5  # a host this busy ...
HOST_CPU_FACTOR = 1.5  # ... at this many times the CPU its load explains (its hourly average, scaled by load) ...
HOST_CPU_RISE = 0.25  # ... and this much over it (a share of the host's CPU) shows host_cpu
FIGURES = np.float32  # per-service features and averages, as the twin's figures (twin.model.FIGURES): half
# the memory traffic; sums that are added to and taken from (the windowed failures) and warm-up sums stay float64
HOST_BASELINE = 3600.0  # seconds: time constant of each host's CPU and load averages


class _Window:
    """Counts over the last LOG_WINDOW ticks: one Counter per tick, and their running sum."""

    def __init__(self) -> None:
        self.ticks: deque[Counter] = deque()
        self.sums: Counter = Counter()

    def push(self, now: Counter) -> Counter:
        if len(self.ticks) == LOG_WINDOW:
            self.sums.subtract(self.ticks.popleft())
        self.ticks.append(now)
        self.sums.update(now)
        self.sums = +self.sums  # drop zeros
        return self.sums


@dataclass
class _Track:
    hits: int = 0  # flagged ticks among the last `window`, as bits (newest lowest)
    normal: int = 0  # consecutive normal ticks
    alerting: bool = False
    sent: tuple[str, ...] = ()
    last_seen: dict[str, int] = field(default_factory=dict)  # symptom -> last tick it showed

    def see(self, flagged: bool, window: int) -> None:
        """Record one tick: flagged or normal."""
        self.hits = ((self.hits << 1) | int(flagged)) & ((1 << window) - 1)
        self.normal = 0 if flagged else self.normal + 1

    @property
    def flagged(self) -> int:
        """Flagged ticks in the window: k of n, so a symptom that shows every other or third tick (a
        crash loop on some replicas, a flapping link) adds up as a steady one does."""
        return self.hits.bit_count()


def _selector(idx: np.ndarray) -> slice | np.ndarray:
    """`idx` as a slice when it is an arithmetic progression (a shard is ``k::shards``), else itself."""
    if len(idx) == 0:
        return idx
    step = int(idx[1] - idx[0]) if len(idx) > 1 else 1
    if step > 0 and np.array_equal(idx, np.arange(idx[0], idx[0] + step * len(idx), step)):
        return slice(int(idx[0]), int(idx[-1]) + 1, step)
    return idx


class Monitor(Agent):
    role = "monitor"

    def __init__(self, name: str, seed: int, topo: Topology, slo: np.ndarray, tick_seconds: float,
                 services: np.ndarray, disks: np.ndarray, hosts: np.ndarray, spec: MonitorSpec, warmup: float,
                 diagnoser: str = "diagnoser") -> None:
        super().__init__(name, seed)
        self.topo, self.tick_seconds = topo, float(tick_seconds)
        self._known = frozenset(topo.services)
        self.idx, self.disks, self.spec = np.asarray(services), np.asarray(disks), spec
        self.hosts = np.asarray(hosts)
        self._rtt_sum = np.zeros(len(self.hosts))
        self._rtt_base = np.full(len(self.hosts), 1e-3)
        self._cpu_avg: np.ndarray | None = None  # each host's CPU and its services' request rate, averaged over
        self._load_avg: np.ndarray | None = None  # about an hour of ticks without a host_cpu symptom
        self.warmup_ticks = max(3, int(round(warmup / self.tick_seconds)))
        self.diagnoser = diagnoser
        # alert on `persistence` flagged ticks of the last `window`. The default is consecutive ticks: on the
        # library, 2 of 3 raised storm's false alerts from 3 to 150 a day (telemetry noise flickers), while
        # intermittent faults are already windowed where they are measured (restarts, failed requests)
        self.window = spec.window or spec.persistence
        self.detector = make_detector(spec.detector, int(self.rng.integers(2**31)))
        self.slo = np.asarray(slo, dtype=FIGURES)[self.idx]
        n = len(self.idx)
        self.sel = _selector(self.idx)  # the shard as a slice where it is one: frame columns read as views
        # this tick's features (see _features), rewritten every tick
        self._X = [np.zeros(n, dtype=FIGURES) for _ in range(6)]
        self._sum = np.zeros((3, n))  # err, p99/slo, error-log lines
        self._sq = np.zeros((3, n))
        self._count = 0
        self._train: list[np.ndarray] = []
        self._prev_restarts = np.zeros(n, dtype=FIGURES)
        empty = (np.zeros(0, dtype=np.int64), np.zeros(0))
        self._restart_ring = [empty] * RESTART_WINDOW  # per tick, the services whose restarts rose, and by how much
        self._req_ring = np.zeros((ERROR_WINDOW, n))  # requests and failed requests per tick, for windowed errors
        self._fail_ring = np.zeros((ERROR_WINDOW, n))
        self._requests, self._failed = np.zeros(n), np.zeros(n)  # the rings' sums (see _windowed_failures)
        # per recent tick: (tick, the frame's error, p99 and up arrays, the error limit) to work its objectives
        # out from when the guard asks (rarely): working them out every tick was three passes over the shard
        self._sli_seen: list[tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None] = [None] * SLI_HISTORY
        self._rate_avg = np.zeros(n, dtype=FIGURES)  # request rate, averaged over about an hour of normal ticks
        self._rate_seen = False  # whether _rate_avg holds a rate yet (then alpha is the hour's)
        self._lat_ewma: np.ndarray | None = None  # p99/SLO smoothed over about a minute (the latency rule's input)
        self._mem_fast: np.ndarray | None = None  # memory smoothed over MEMORY_FAST and MEMORY_SLOW (the trend)
        self._mem_slow: np.ndarray | None = None
        self._mem_sum = np.zeros(n)  # memory summed over the warm-up (its level)
        self._lat_slow: np.ndarray | None = None  # p99/SLO averaged over LATENCY_BEFORE
        self._lat_before = np.zeros(n, dtype=FIGURES)  # the slow average when each service's version last changed
        self._deployed = np.full(n, -np.inf)  # each service's last version change seen
        self._deployed_seen: np.ndarray | None = None  # the frame array it was read from (see _latency_regression)
        self._recent = np.zeros(0, dtype=np.int64)  # services whose version changed within VERIFY_WINDOW
        self._prev_disk = np.zeros(len(self.disks))
        self._disk_growth = np.zeros(len(self.disks))
        self.mean = self.std = None
        self.tracks: dict[tuple[str, int], _Track] = {}
        self.pending: list[Alert] = []
        self.reader = LogReader()
        self._held_key: tuple[int, ...] = ()
        self._held: frozenset[int] = frozenset()
        self._signals = _Window()  # (service, signal) lines read
        self._templates = _Window()  # (service, drain3 cluster) lines read
        self.fitted = False
        self._latest: list[np.ndarray] | None = None  # the last frame's features (for SLI answers)

    # ------------------------------------------------------------ features
    def _features(self, f: Frame) -> list[np.ndarray]:
        """Rows error, p99/SLO, ERROR lines, memory, restarts, down per service of the shard: views of the
        frame where it holds them (a shard is a slice of it), the rest written into preallocated rows (no
        per-tick gathers or stacking at 100,000 services). Read-only; rewritten next tick: copy what you keep."""
        i, X = self.sel, self._X
        # restarts over a window (a partial crash loop restarts every few ticks), kept as a running sum in
        # X[4] updated where restarts rose (few services): counts are whole numbers, so this is exact
        k = f.tick % RESTART_WINDOW
        gone, dropped = self._restart_ring[k]
        X[4][gone] -= dropped
        restarts = f.restarts[i]
        rose = np.flatnonzero(restarts != self._prev_restarts)
        delta = restarts[rose] - self._prev_restarts[rose]
        X[4][rose] += delta
        self._prev_restarts[rose] = restarts[rose]
        self._restart_ring[k] = (rose, delta)
        X[0] = f.error[i]
        np.divide(f.p99[i], self.slo, out=X[1])
        X[2] = f.logs.volume(len(f.rate), "ERROR")[i] if self.spec.logs else np.zeros(len(self.idx))
        X[3] = f.memory[i]
        np.logical_not(f.up[i], out=X[5], casting="unsafe")
        return X

    @staticmethod
    def _columns(X: list[np.ndarray], at: np.ndarray) -> np.ndarray:
        """The features of the services `at`, as a (features, services) array."""
        return np.stack([row[at] for row in X])

    def _normalized(self, X: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Per-service normalization of the services `cols`, so one model serves a whole shard."""
        mean, std = self.mean[:, cols], self.std[:, cols]
        z = np.empty_like(X)
        z[0] = (X[0] - mean[0]) / (std[0] + 0.002)
        z[1] = X[1] / np.maximum(mean[1], 1e-3)
        z[2] = (X[2] - mean[2]) / np.sqrt(mean[2] + 1.0)
        z[3:] = X[3:]
        return z.T

    # ------------------------------------------------------------- observe
    def observe(self, f: Frame) -> bool:
        """Feed one frame; True when alerts are ready to send this tick."""
        X = self._features(f)
        self._latest = X
        self._track_memory(X)
        self._sli_seen[f.tick % SLI_HISTORY] = (f.tick, f.error, f.p99, f.up, self._sli_limit())
        if f.tick <= self.warmup_ticks:
            self._learn(f, X)
            return False
        if not self.fitted:
            self._fit()
        flags = self._screen(f, X)
        self._update_services(f, X, flags)
        self._update_disks(f)
        self._update_hosts(f)
        return bool(self.pending)

    def _track_memory(self, X: list[np.ndarray]) -> None:
        """Update the memory EWMAs; a service that is down or restarted lately starts its trend
        afresh (a fresh process refilling its caches is not a leak)."""
        mem = X[3]
        if self._mem_fast is None:
            self._mem_fast, self._mem_slow = mem.copy(), mem.copy()
            return
        self._mem_fast += min(1.0, self.tick_seconds / MEMORY_FAST) * (mem - self._mem_fast)
        self._mem_slow += min(1.0, self.tick_seconds / MEMORY_SLOW) * (mem - self._mem_slow)
        fresh = np.flatnonzero((X[4] > 0) | (X[5] > 0))
        if len(fresh):
            self._mem_fast[fresh] = self._mem_slow[fresh] = mem[fresh]

    def _memory_growth(self, steady_load: np.ndarray) -> np.ndarray:
        """Services whose memory, growing steadily while their load does not, will reach MEMORY_LIMIT
        within MEMORY_HORIZON: a slow leak, seen before GC pauses and OOM kills show it. For a linear
        trend the slow EWMA lags the fast one by the difference of their time constants."""
        lag = max(MEMORY_SLOW, self.tick_seconds) - max(MEMORY_FAST, self.tick_seconds)
        out = np.zeros(len(self.idx), dtype=bool)
        risen = np.flatnonzero(self._mem_fast > self._mem_risen)  # few: the rest on them only
        fast = self._mem_fast[risen]
        growth = (fast - self._mem_slow[risen]) / max(lag, self.tick_seconds)
        out[risen] = (growth > MEMORY_MIN_GROWTH) & (fast + growth * MEMORY_HORIZON >= MEMORY_LIMIT) & steady_load[risen]
        return out

    def _latency_regression(self, f: Frame, raw_lat: np.ndarray, lat: np.ndarray,
                            steady_load: np.ndarray) -> np.ndarray:
        """Services whose smoothed p99 since a version change stands REGRESSION_FACTOR times its level
        before the change, within VERIFY_WINDOW, while their load is steady: a slower release, even
        one still within its SLO (a surge slows everything, so it does not count)."""
        if self._lat_slow is None:
            self._lat_slow = raw_lat.copy()
        if f.deployed_at is self._deployed_seen and not f.deployed_at.flags.writeable:
            # the twin's read-only snapshot of last tick (a new one whenever a version changes): no change,
            # and the recent changes can only have aged (two passes over 100,000 services saved a tick)
            recent = self._recent[f.t - self._deployed[self._recent] < VERIFY_WINDOW]
        else:
            deployed = f.deployed_at[self.sel]
            changed = np.flatnonzero(deployed != self._deployed)
            if len(changed):  # a new version: remember how it was before
                self._lat_before[changed] = self._lat_slow[changed]
                self._deployed[changed] = deployed[changed]
            recent = np.flatnonzero(f.t - deployed < VERIFY_WINDOW)  # few: the rest on them only
        self._deployed_seen, self._recent = f.deployed_at, recent
        self._lat_slow += min(1.0, self.tick_seconds / LATENCY_BEFORE) * (raw_lat - self._lat_slow)
        out = np.zeros(len(self.idx), dtype=bool)
        before, now = self._lat_before[recent], lat[recent]
        out[recent] = (now > REGRESSION_FACTOR * before) & (now > before + REGRESSION_MIN) & steady_load[recent]
        return out

    def _learn(self, f: Frame, X: list[np.ndarray]) -> None:
        self._track_rate(f, np.zeros(len(self.idx), dtype=bool))
        self._mem_sum += X[3]
        for k in range(3):
            self._sum[k] += X[k]
            self._sq[k] += X[k] ** 2
        self._count += 1
        if f.tick > 2:  # rows for the learned model: a seeded sample of services per tick
            take = np.sort(self.rng.choice(len(self.idx), size=min(len(self.idx), 64), replace=False))
            self._train.append((self._columns(X, take), take))
        self._prev_disk = f.disk_used[self.disks].copy()
        self._rtt_sum += f.host_rtt[self.hosts]
        self._rtt_base = self._rtt_sum / self._count
        if len(self.hosts):
            self._track_hosts(f.host_cpu[self.hosts], self._host_load(f), None)

    def _host_load(self, f: Frame) -> np.ndarray:
        """Requests per second served by each of this monitor's hosts (where its services run now)."""
        return np.bincount(f.svc_host, weights=f.rate, minlength=len(self.topo.hosts))[self.hosts]

    def _track_hosts(self, cpu: np.ndarray, load: np.ndarray, calm: np.ndarray | None) -> None:
        """Update each host's CPU and load averages (only `calm` hosts: a neighbour must not become normal)."""
        if self._cpu_avg is None:
            self._cpu_avg, self._load_avg = cpu.copy(), load.copy()
            return
        alpha = min(1.0, self.tick_seconds / HOST_BASELINE)
        if calm is None or calm.all():  # the usual tick: one vector update, no masks
            self._cpu_avg += alpha * (cpu - self._cpu_avg)
            self._load_avg += alpha * (load - self._load_avg)
        else:
            self._cpu_avg[calm] += alpha * (cpu[calm] - self._cpu_avg[calm])
            self._load_avg[calm] += alpha * (load[calm] - self._load_avg[calm])

    def _fit(self) -> None:
        c = max(self._count, 1)
        self.mean = self._sum / c
        self.std = np.sqrt(np.maximum(self._sq / c - self.mean**2, 0.0))
        Z = np.concatenate([self._normalized(x, cols) for x, cols in self._train]) if self._train else np.zeros((1, 6))
        if len(Z) > MAX_TRAIN_ROWS:
            Z = Z[np.sort(self.rng.choice(len(Z), MAX_TRAIN_ROWS, replace=False))]
        self.detector.fit(Z)
        self._train = []
        self.fitted = True
        # the screen's per-service limits depend only on the warm-up: computed once, not every tick
        m = self.mean
        self._lim_err = np.maximum(m[0] * 3, m[0] + 0.01)
        self._lim_err_sure = np.maximum(0.05, m[0] * 10)
        self._lim_lat = m[1] * 3 + 0.05
        self._lim_lat_gross = 5 * m[1]
        self._lim_lines = m[2] + 5 * np.sqrt(m[2] + 1) + 3
        self._lim_sli_err = np.maximum(SLI_ERROR_FLOOR, SLI_ERROR_FACTOR * m[0])
        self._mem_risen = self._mem_sum / max(self._count, 1) + MEMORY_MIN_RISE  # warm-up level + the rule's rise

    def _track_rate(self, f: Frame, spiking: np.ndarray) -> None:
        rate = f.rate[self.sel]
        self._rate_seen = self._rate_seen or bool(self._rate_avg.any())  # once it holds a rate, it keeps one
        alpha = min(1.0, self.tick_seconds / 3600.0) if self._rate_seen else 1.0
        if not spiking.any():  # the usual tick: one vector update, no masks
            self._rate_avg += alpha * (rate - self._rate_avg)
            return
        calm = ~spiking
        self._rate_avg[calm] += alpha * (rate[calm] - self._rate_avg[calm])

    def _windowed_failures(self, f: Frame, err: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Requests and failed requests per service over the last ERROR_WINDOW ticks: running sums,
        summed afresh once a window so rounding never builds up (at 100,000 services summing the
        whole window every tick was a tenth of the monitor's time)."""
        slot = f.tick % ERROR_WINDOW
        req, fail = self._req_ring[slot], self._fail_ring[slot]
        self._requests -= req
        self._failed -= fail
        np.multiply(f.rate[self.sel], self.tick_seconds, out=req)
        np.multiply(err, req, out=fail)
        if slot == 0:
            self._req_ring.sum(axis=0, out=self._requests)
            self._fail_ring.sum(axis=0, out=self._failed)
        else:
            self._requests += req
            self._failed += fail
        return self._requests, self._failed

    def _screen(self, f: Frame, X: list[np.ndarray]) -> dict[str, np.ndarray]:
        err, raw_lat, lines, mem, restarts, down = X
        m = self.mean
        # failed requests, not only their share: on a service with few requests one failure is a
        # large share, and error counts are binomial; a Poisson bound over the baseline's count
        # counted over the last ERROR_WINDOW ticks, as a burn-rate alert would: a quiet service that fails
        # one request in five shows a failure or two a tick, and then none
        requests, failed = self._windowed_failures(f, err)
        # the bound is at least ERROR_COUNT_SIGMAS + 1 failures (the baseline's count is >= 0), which
        # few services reach: the bound is worked out for those only (its six passes over 100,000
        # services were a tenth of the screen); the error share's rules need these services too
        some = np.flatnonzero(failed > ERROR_COUNT_SIGMAS + 1.0)
        expected = m[0][some] * requests[some]
        many_at = some[failed[some] > expected + ERROR_COUNT_SIGMAS * np.sqrt(expected + 1.0) + 1.0]
        share = np.maximum(err[many_at], failed[many_at] / np.maximum(requests[many_at], 1e-300))
        # p99 over SLO as an SLO alert would see it: smoothed, so a noisy tick is not a breach; a
        # sample back within SLO is followed at once, so a fixed service clears as fast as before
        prev = self._lat_ewma if self._lat_ewma is not None else raw_lat
        # that is min(raw, smooth) wherever raw <= 1 (smooth lies between prev and raw), bit for bit: no
        # np.where on a mask as random as noise (0.5 ms at 100,000 services); smooth stands above 1 or
        # where the average is infinite (its smooth is NaN)
        smooth = raw_lat - prev
        smooth *= LATENCY_SMOOTHING
        smooth += prev
        lat = self._lat_ewma = np.minimum(raw_lat, smooth)
        above = np.flatnonzero((raw_lat > 1.0) | np.isinf(prev))
        lat[above] = smooth[above]
        gross = np.flatnonzero(raw_lat > self._lim_lat_gross)
        if len(gross):  # a gross jump needs no smoothing
            lat = lat.copy()
            lat[gross] = np.maximum(lat[gross], raw_lat[gross])
        rate = f.rate[self.sel]
        spike = rate > 2.0 * self._rate_avg + 1.0
        self._track_rate(f, spike)
        steady_load = rate <= 1.5 * self._rate_avg + 1.0  # a surge grows working sets and slows everything
        over_slo, down, restarts = lat > 1.0, down > 0, restarts > 0
        flags = {
            "rate_spike": spike,
            "errors": self._at(many_at, share > self._lim_err[many_at]),
            "latency": over_slo | (lat > self._lim_lat),
            "memory": mem > MEMORY_LIMIT,  # normal use stays under 0.6 of the limit; GC pauses start at 0.8
            "memory_growth": self._memory_growth(steady_load),
            "latency_regression": self._latency_regression(f, raw_lat, lat, steady_load),
            "restarts": restarts,
            "down": down,
            "logs": lines > self._lim_lines,
        }
        # symptoms no healthy service shows, whatever its baseline: no second opinion needed (asked of the
        # few services flagged or tracked: see _update_services)
        sure_errors = self._at(many_at, share > self._lim_err_sure[many_at])
        self._sure = lambda at: (down[at] | restarts[at] | over_slo[at] | (lat[at] > self._lim_lat_gross[at])
                                 | flags["memory_growth"][at] | flags["latency_regression"][at] | sure_errors[at])
        return flags

    def _at(self, where: np.ndarray, values: np.ndarray) -> np.ndarray:
        """A flag over the shard: `values` at the positions `where`, False elsewhere."""
        out = np.zeros(len(self.idx), dtype=bool)
        out[where] = values
        return out

    def _update_services(self, f: Frame, X: list[np.ndarray], flags: dict[str, np.ndarray]) -> None:
        any_flag = np.zeros(len(self.idx), dtype=bool)
        for v in flags.values():
            any_flag |= v
        candidates = np.flatnonzero(any_flag)
        # components whose state may change: flagged now, or tracked
        touched = set(candidates.tolist()) | {k[1] for k in self.tracks if k[0] == "service"}
        confirmed = np.zeros(len(self.idx), dtype=bool)
        if len(candidates):
            at = np.array(sorted(touched), dtype=np.int64)
            confirmed[at] = self._sure(at)  # gross symptoms need no second opinion ...
            borderline = candidates[~confirmed[candidates]]
            if len(borderline):  # ... the learned detector decides the rest (one call: its overhead is fixed)
                confirmed[borderline] = self.detector.anomalous(self._normalized(self._columns(X, borderline), borderline))
        novel = self._read_logs(f, candidates)
        held = self._in_change(f) if len(candidates) else frozenset()
        for j in sorted(touched):
            track = self.tracks.setdefault(("service", j), _Track())
            track.see(bool(confirmed[j]), self.window)
            if confirmed[j]:
                for symptom in [k for k, v in flags.items() if v[j]] + novel.get(j, []):
                    track.last_seen[symptom] = f.tick
            # an alert carries the symptoms seen in its last `clear_after` ticks: a new one is
            # reported at once, a vanished one (a surge that ended) once it stayed away
            current = tuple(sorted(k for k, t in track.last_seen.items() if f.tick - t < self.spec.clear_after))
            if not track.alerting and track.flagged >= self.spec.persistence and int(self.idx[j]) not in held:
                track.alerting = True
                track.sent = current
                self.pending.append(self._service_alert(f, X, j, list(current)))
            elif track.alerting and confirmed[j] and current != track.sent:
                track.sent = current
                self.pending.append(self._service_alert(f, X, j, list(current)))
            elif track.alerting and track.normal >= self.spec.clear_after:
                track.alerting = False
                self.pending.append(self._service_alert(f, X, j, [], cleared=True))
            if not track.alerting and track.flagged == 0 and track.normal >= self.spec.clear_after:
                del self.tracks[("service", j)]

    def _in_change(self, f: Frame) -> frozenset[int]:
        """Services in a change window or within CHANGE_GRACE after it (an action on them, their host or
        disk) and every service that calls them, directly or not: a change's dip shows upstream too."""
        changed = np.flatnonzero(f.t < f.change_until + CHANGE_GRACE)
        if not len(changed):
            return frozenset()
        key = tuple(changed.tolist())
        if key != self._held_key:
            self._held_key, self._held = key, frozenset(key) | frozenset(self.topo.upstream(changed).tolist())
        return self._held

    def _read_logs(self, f: Frame, candidates: np.ndarray) -> dict[int, list[str]]:
        """Read the lines of the services worth a look (tracked or flagged; those writing most first, at
        most READ_SERVICES a tick), mine them, and return per local service index the
        ``log:<signal>`` symptoms seen at least twice in the last LOG_WINDOW ticks (a quiet service
        writes a stray line now and then, not a pair)."""
        suspects = {k[1] for k in self.tracks if k[0] == "service"} | set(candidates.tolist())
        if not self.spec.logs or not suspects:
            self._templates.push(Counter())
            return self._window_signals(Counter())
        lines = f.logs.volume(len(f.rate))[self.idx]  # WARN lines too: GC pressure and throttling are WARN
        look = sorted((j for j in suspects if lines[j] > 0), key=lambda j: (-lines[j], j))[:READ_SERVICES]
        now: Counter[tuple[int, str]] = Counter()
        clusters: Counter[tuple[int, int]] = Counter()
        if look:
            local = {int(self.idx[j]): j for j in look}
            for line in f.logs.read(sorted(local), READ_LINES):
                parsed = self.reader.parse(line.text)
                if parsed is not None:
                    clusters[(local[line.service], parsed.cluster)] += 1
                    for signal in self.reader.signals(parsed):
                        now[(local[line.service], signal)] += 1
        self._templates.push(clusters)
        return self._window_signals(now)

    def _top_templates(self, j: int) -> dict[str, int]:
        """The log templates (as drain3 reads them now) read most from service `j` in the window, with
        their line counts: evidence a reasoner can read (a rule needs only the signals)."""
        mine = sorted(((-c, self.reader.template(cl)) for (k, cl), c in self._templates.sums.items() if k == j))
        return {text: -c for c, text in mine[:ALERT_TEMPLATES]}

    def _window_signals(self, now: Counter[tuple[int, str]]) -> dict[int, list[str]]:
        """Add this tick's (service, signal) counts to the window; the signals seen twice in it, per service."""
        out: dict[int, list[str]] = {}
        for (j, signal), cnt in sorted(self._signals.push(now).items()):
            if cnt >= 2:
                out.setdefault(j, []).append("log:" + signal)
        return out

    def _service_alert(self, f: Frame, X: list[np.ndarray], j: int, symptoms: list[str], cleared: bool = False) -> Alert:
        i = int(self.idx[j])
        ago = f.t - f.deployed_at[i]
        sev = float(max(X[0][j] * 10, X[1][j], X[3][j], X[5][j]))
        return Alert(
            component=self.topo.services[i], kind="service", symptoms=sorted(set(symptoms)), severity=round(sev, 4),
            values={"error": round(float(X[0][j]), 4), "p99_slo": round(float(X[1][j]), 4),
                    "memory": round(float(X[3][j]), 4), "restarts": float(X[4][j]), "up": float(1 - X[5][j])},
            host=self.topo.hosts[f.svc_host[i]],
            deployed_ago=round(float(ago), 1) if ago <= RECENT_DEPLOY else None,
            cleared=cleared, logs={} if cleared else self._top_templates(j),
        )

    def _update_disks(self, f: Frame) -> None:
        if not len(self.disks):
            return
        used = f.disk_used[self.disks]
        growth = (used - self._prev_disk) / self.tick_seconds
        self._prev_disk = used.copy()
        self._disk_growth = 0.8 * self._disk_growth + 0.2 * growth  # smoothed, per second
        eta = np.divide(1.0 - used, self._disk_growth, out=np.full(len(used), np.inf), where=self._disk_growth > 0)
        io = f.disk_io_errors[self.disks]
        topo = self.topo

        def describe(k: int) -> tuple[str, str | None, float, dict[str, float]]:
            d = int(self.disks[k])
            values = {"used": round(float(used[k]), 4), "hours_to_full": round(float(min(eta[k], 1e6)) / 3600, 3),
                      "io_errors": float(io[k])}
            return topo.disks[d], topo.hosts[topo.disk_host[d]], float(used[k]), values

        self._update_components("disk", self.disks, {"disk_usage": used > 0.9, "disk_filling": (used > 0.5) & (eta < 4 * 3600),
                                                     "io_errors": io > 0}, describe)

    def _update_hosts(self, f: Frame) -> None:
        if not len(self.hosts):
            return
        rtt, cpu = f.host_rtt[self.hosts], f.host_cpu[self.hosts]
        load = self._host_load(f)
        # what the host's load explains: its average CPU scaled by its load against its average load
        expected = self._cpu_avg * np.divide(load, self._load_avg, out=np.ones_like(load), where=self._load_avg > 0)
        unexplained = (cpu > HOST_CPU_BUSY) & (cpu > HOST_CPU_FACTOR * expected) & (cpu > expected + HOST_CPU_RISE)
        if unexplained.any():  # not while an action on the host (or one of its services) settles: its own blip
            changed = np.flatnonzero(f.t < f.change_until + CHANGE_GRACE)
            unexplained &= ~np.isin(self.hosts, f.svc_host[changed])
        saturated = (cpu > 1.0) | unexplained
        self._track_hosts(cpu, load, ~saturated)

        def describe(k: int) -> tuple[str, str | None, float, dict[str, float]]:
            values = {"rtt_ms": round(float(rtt[k]) * 1000, 3), "cpu": round(float(cpu[k]), 4)}
            return self.topo.hosts[int(self.hosts[k])], None, float(max(cpu[k], rtt[k] / self._rtt_base[k])), values

        self._update_components("host", self.hosts, {"host_net_latency": rtt > 5 * self._rtt_base + 0.005,
                                                     "host_cpu": saturated}, describe)

    def _update_components(self, kind: str, ids: np.ndarray, flags: dict[str, np.ndarray], describe) -> None:
        """Alert/clear disks or hosts: `flags` per symptom over `ids`; only flagged or tracked ones are visited."""
        any_flag = np.zeros(len(ids), dtype=bool)
        for v in flags.values():
            any_flag |= v
        touched = set(np.flatnonzero(any_flag).tolist())
        touched |= {int(np.searchsorted(ids, key[1])) for key in self.tracks if key[0] == kind}
        for k in sorted(touched):
            symptoms = [name for name, v in flags.items() if v[k]]
            key = (kind, int(ids[k]))
            track = self.tracks.setdefault(key, _Track())
            track.see(bool(symptoms), self.window)
            name, host, severity, values = describe(k)
            if not track.alerting and track.flagged >= self.spec.persistence:
                track.alerting, track.sent = True, tuple(symptoms)
                self.pending.append(Alert(component=name, kind=kind, symptoms=symptoms, severity=severity,
                                          values=values, host=host))
            elif track.alerting and track.normal >= self.spec.clear_after:
                track.alerting = False
                self.pending.append(Alert(component=name, kind=kind, symptoms=[], severity=0.0, values=values,
                                          host=host, cleared=True))
            if not track.alerting and not symptoms and track.normal >= self.spec.clear_after:
                del self.tracks[key]

    # ----------------------------------------------------------------- SLI
    def objectives(self, out: np.ndarray | None = None) -> np.ndarray:
        """Per service of the shard (columns), from the latest frame, whether it meets each objective
        (rows): up; errors under max(1%, 3x baseline); p99 within SLO. Written into `out` if given."""
        ok = np.empty((SLI_OBJECTIVES, len(self.idx)), dtype=bool) if out is None else out
        if self._latest is None:
            ok[...] = True
            return ok
        err, lat, down = self._latest[0], self._latest[1], self._latest[5]
        np.equal(down, 0, out=ok[0])
        np.less(err, self._sli_limit(), out=ok[1])
        np.less_equal(lat, 1.0, out=ok[2])
        return ok

    def _sli_limit(self) -> np.ndarray:
        """The error share under which a service meets its error objective, per service of the shard."""
        return (self._lim_sli_err if self.fitted
                else np.maximum(SLI_ERROR_FLOOR, SLI_ERROR_FACTOR * self._sum[0] / max(self._count, 1)))

    def _objectives_at(self, at_tick: int) -> np.ndarray:
        """objectives() as they stood at `at_tick`, one of the last SLI_HISTORY ticks (an older one: all met),
        worked out as objectives() did then, from that tick's frame arrays."""
        seen = self._sli_seen[at_tick % SLI_HISTORY]
        ok = np.ones((SLI_OBJECTIVES, len(self.idx)), dtype=bool)
        if seen is None or seen[0] != at_tick:
            return ok
        _, error, p99, up, limit = seen
        lat = np.divide(p99[self.sel], self.slo, out=np.empty(len(self.idx), dtype=self._X[1].dtype))  # as X[1]
        np.not_equal(up[self.sel], 0, out=ok[0])  # as X[5] == 0
        np.less(error[self.sel], limit, out=ok[1])
        np.less_equal(lat, 1.0, out=ok[2])
        return ok

    def _local(self, services: list[str]) -> np.ndarray:
        """Shard positions of the services named that are in this monitor's shard."""
        known = self._known
        wanted = np.array(sorted({self.topo.index(s) for s in services if s in known}), dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.idx, wanted), max(len(self.idx) - 1, 0))
        return pos[self.idx[pos] == wanted] if len(self.idx) and len(wanted) else np.zeros(0, dtype=np.int64)

    def sli(self, services: list[str], at_tick: int | None = None) -> tuple[int, int]:
        """(objectives met, objectives) over the services named that are in this monitor's shard, at
        the latest tick or at `at_tick` (one of the last SLI_HISTORY; an older one counts as all met)."""
        if at_tick is None:
            ok = self.objectives()
        else:
            ok = self._objectives_at(at_tick)
        mine = self._local(services)
        return int(ok[:, mine].sum()), SLI_OBJECTIVES * int(len(mine))

    # ---------------------------------------------------------------- step
    def step(self, ctx: Context, inbox: list[Message]) -> None:
        for alert in self.pending:
            ctx.send("inform", "alert", self.diagnoser, alert)
        self.pending = []
        for m in inbox:
            if m.kind == "sli_query" and m.performative == "query-ref":
                q: SliQuery = m.parsed()
                (good, total), (own_good, own_total), (dep_good, dep_total) = (
                    self.sli(s, q.at_tick) for s in (q.services, q.own, q.deps))
                ctx.send("inform", "sli", m.sender, Sli(task=q.task, good=good, total=total, own_good=own_good,
                                                        own_total=own_total, dep_good=dep_good, dep_total=dep_total),
                         m.conversation)

    def state(self) -> dict[str, Any]:
        alerting = sorted(k for k, v in self.tracks.items() if v.alerting)
        return {"name": self.name, "role": self.role, "alerting": len(alerting)}
