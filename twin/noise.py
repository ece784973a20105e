"""Telemetry noise: what a monitoring stack reports is not the twin's true state.

:class:`Observer` turns the twin's true frame of a tick into the frame agents see
(see :class:`twin.spec.TelemetrySpec` for the knobs):

- errors: the share of failed requests is ``Binomial(n, p) / n`` over the tick's ``n`` requests
  (fewer requests, noisier share; a service's noise level ``k`` shrinks ``n`` by ``k**2``, since the
  binomial's relative spread goes as ``1/sqrt(n)``); throughput follows the drawn errors;
- latency: p50 and p99 are multiplied by log-normal noise, p99's sigma twice p50's (tail
  percentiles from few samples are noisier); p99 stays >= p50 and under the timeout;
- per-service noise levels ``k``: drawn once per service from the seed (log-normal, median 1);
- scrape gaps: each tick a share of services repeats its previous reported sample (rate,
  throughput, latency, errors, CPU, memory, restarts, up). Stale, never NaN: consumers of
  frames do arithmetic on them and a gap in real monitoring is most often a late sample.

Log lines, disks and hosts are reported as they are (their own noise is drawn by the twin).
Health H is computed by the twin from the true state, before this runs. Draws come from the
streams ``telemetry`` (per tick) and ``telemetry/levels`` (once), so noise never shifts the
twin's own draws.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from opstwin.twin.rng import generator
from opstwin.twin.spec import TelemetrySpec
from opstwin.twin.telemetry import Frame

TIMEOUT_SECONDS = 30.0  # as twin.model: callers give up; jitter never reports a latency beyond it
STALE_FIELDS = ("rate", "throughput", "p50", "p99", "error", "cpu", "memory", "restarts", "up")


class Observer:
    """The monitoring stack between the twin and its observers: adds `spec`'s noise to frames."""

    def __init__(self, spec: TelemetrySpec, n_services: int, seed: int) -> None:
        self.spec = spec
        self.rng = generator(seed, "telemetry")
        levels = generator(seed, "telemetry", "levels").lognormal(0.0, spec.spread, n_services) if n_services else []
        self.level = np.asarray(levels, dtype=float) * spec.noise  # per-service noise scale
        self.exact = spec.noise == 0 and spec.scrape_gap == 0
        self.previous: Frame | None = None
        self.stale_count = 0  # services that reported a stale sample, over the run (for tests and reports)

    def observe(self, truth: Frame, dt: float) -> Frame:
        """The reported frame of this tick (the truth itself when noise is off)."""
        if self.exact:
            return truth
        n = len(truth.rate)
        changes: dict[str, np.ndarray] = {}
        if self.spec.noise > 0 and n:
            lvl = self.level
            requests = truth.rate * dt
            # binomial over the tick's requests; a noisier service counts as if it had fewer
            trials = np.round(requests / np.maximum(lvl, 1e-6) ** 2).astype(np.int64)
            trials = np.minimum(trials, 2**40)
            p = np.clip(truth.error, 0.0, 1.0)
            counted = trials > 0
            error = p.copy()
            error[counted] = self.rng.binomial(trials[counted], p[counted]) / trials[counted]
            sigma = self.spec.latency_jitter * lvl
            z = self.rng.standard_normal((2, n))
            p50 = np.minimum(truth.p50 * np.exp(sigma * z[0]), TIMEOUT_SECONDS)
            p99 = np.minimum(np.maximum(truth.p99 * np.exp(2 * sigma * z[1]), p50), TIMEOUT_SECONDS)
            changes.update(error=error, throughput=truth.rate * (1 - error), p50=p50, p99=p99)
        frame = replace(truth, **changes)
        if self.spec.scrape_gap > 0 and n:
            stale = self.rng.random(n) < self.spec.scrape_gap
            if self.previous is not None and stale.any():
                self.stale_count += int(stale.sum())
                for name in STALE_FIELDS:
                    fresh = getattr(frame, name).copy()
                    fresh[stale] = getattr(self.previous, name)[stale]
                    setattr(frame, name, fresh)
        self.previous = frame
        return frame
