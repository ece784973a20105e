"""Telemetry noise: what a monitoring stack reports is not the twin's true state.

:class:`Observer` turns the twin's true frame of a tick into the frame agents see
(see :class:`twin.spec.TelemetrySpec` for the knobs):

- errors: the share of failed requests is ``Binomial(n, p) / n`` over the tick's ``n`` requests
  (fewer requests, noisier share; `noise` > 1 shrinks ``n`` by ``noise**2``, since the binomial's
  relative spread goes as ``1/sqrt(n)``). Where under half a failure is expected the draw is
  Poisson (the same law in that regime), one total split over those services, far cheaper for 100,000.
  Counters count every request, so a service's own noise level does not apply here;
  throughput follows the drawn errors;
- latency: p50 and p99 are multiplied by log-normal noise, p99's sigma twice p50's (tail
  percentiles from few samples are noisier); p99 stays >= p50 and under the timeout;
- per-service noise levels ``k``: drawn once per service from the seed (log-normal, median 1),
  they scale that service's latency jitter (histogram buckets and sampling differ per service);
- scrape gaps: each tick a share of services repeats its previous reported sample (rate,
  throughput, latency, errors, CPU, memory, restarts, up). Stale, never NaN: consumers of
  frames do arithmetic on them and a gap in real monitoring is most often a late sample.

Log lines, disks and hosts are reported as they are (their own noise is drawn by the twin).
Health H is computed by the twin from the true state, before this runs. Draws come from the
streams ``telemetry`` (per tick), ``telemetry/jitter`` (latency, per tick) and ``telemetry/levels``
(once), so noise never shifts the twin's own draws.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import replace

import numpy as np

from opstwin.twin.rng import generator, poisson_split
from opstwin.twin.spec import TelemetrySpec
from opstwin.twin.telemetry import Frame
from opstwin.twin.worker import worker

TIMEOUT_SECONDS = 30.0  # as twin.model: callers give up; jitter never reports a latency beyond it
STALE_FIELDS = ("rate", "throughput", "p50", "p99", "error", "throttled", "cpu", "memory", "restarts", "up")


class Observer:
    """The monitoring stack between the twin and its observers: adds `spec`'s noise to frames."""

    def __init__(self, spec: TelemetrySpec, n_services: int, seed: int) -> None:
        self.spec = spec
        self.rng = generator(seed, "telemetry")
        levels = generator(seed, "telemetry", "levels").lognormal(0.0, spec.spread, n_services) if n_services else []
        self.level = np.asarray(levels, dtype=float) * spec.noise  # per-service noise scale
        self.exact = spec.noise == 0 and spec.scrape_gap == 0
        self.sigma = spec.latency_jitter * self.level  # p50's log-normal jitter per service; p99's is twice it
        self.sigma99 = 2 * self.sigma
        sigmas = np.stack([self.sigma, self.sigma99]).astype(np.float32)  # the jitter is drawn as the twin's figures
        self.jitter = Jitter(generator(seed, "telemetry", "jitter"), sigmas)
        self.previous: Frame | None = None
        self.stale_count = 0  # services that reported a stale sample, over the run (for tests and reports)

    def observe(self, truth: Frame, dt: float) -> Frame:
        """The reported frame of this tick (the truth itself when noise is off)."""
        if self.exact:
            return truth
        n = len(truth.rate)
        changes: dict[str, np.ndarray] = {}
        # scrape gaps: a binomial count of stale services, then which ones (not a draw per service)
        gap = (self.rng.choice(n, size=int(self.rng.binomial(n, self.spec.scrape_gap)), replace=False)
               if self.spec.scrape_gap > 0 and n else None)
        if self.spec.noise > 0 and n:
            error = self._errors(truth.rate * (dt / self.spec.noise ** 2), np.clip(truth.error, 0.0, 1.0))
            jitter = self.jitter.take()
            p50 = np.minimum(truth.p50 * jitter[0], TIMEOUT_SECONDS)
            p99 = np.minimum(np.maximum(truth.p99 * jitter[1], p50), TIMEOUT_SECONDS)
            changes.update(error=error, throughput=truth.rate * (1 - error - truth.throttled), p50=p50, p99=p99)
        frame = replace(truth, **changes)
        if gap is not None and len(gap) and self.previous is not None:
            self.stale_count += len(gap)
            for name in STALE_FIELDS:
                fresh, stale = getattr(frame, name), getattr(self.previous, name)
                if fresh is stale:  # one shared read-only array (no rate limit's 429s): nothing to repeat
                    continue
                if name not in changes:
                    fresh = fresh.copy()  # the truth's own array: leave it be
                fresh[gap] = stale[gap]
                setattr(frame, name, fresh)
        self.previous = frame
        return frame

    def _errors(self, trials: np.ndarray, p: np.ndarray) -> np.ndarray:
        """The reported error shares: failed requests drawn over `trials` requests each."""
        lam = trials * p
        big = lam >= 0.5
        # where under half a failure is expected (most services): Poisson, the binomial's law in that
        # regime, drawn for all of them at once (see twin.rng.poisson_split)
        some, count_some = poisson_split(self.rng, np.where(big, 0.0, lam))
        big = np.flatnonzero(big)
        count_big = self.rng.binomial(np.round(trials[big]).astype(np.int64), p[big]) if len(big) else big
        # the share is 0 where nothing failed (most services), the truth where under one request was made
        out = np.where(trials >= 1, 0.0, p)
        at, count = np.concatenate([some, big]), np.concatenate([count_some, count_big])
        counted = trials[at] >= 1
        at, count = at[counted], count[counted]
        out[at] = np.minimum(count / trials[at], 1.0)
        return out


class Jitter:
    """Each tick's latency jitter factors ``exp(sigma * z)`` for p50 and p99, from their own stream.

    They depend on no state, so for a big twin the next tick's are drawn while this tick runs, in a
    worker thread (:mod:`twin.worker`): at 100,000 services that work was a fifth of the twin's tick.
    The stream is drawn in the same order either way, so the factors are the same with or without it.
    """

    def __init__(self, rng: np.random.Generator, sigma: np.ndarray) -> None:
        self.rng, self.sigma = rng, sigma  # sigma: (2, services), p50's and p99's
        self._pool = worker(sigma.shape[1], "jitter")
        self._next: Future | None = None

    def take(self) -> np.ndarray:
        """This tick's factors, shape (2, services); starts drawing the next tick's."""
        if self._pool is None:
            return self._draw()
        factors = (self._next or self._pool.submit(self._draw)).result()
        self._next = self._pool.submit(self._draw)
        return factors

    def _draw(self) -> np.ndarray:
        z = self.rng.standard_normal(self.sigma.shape, dtype=self.sigma.dtype)  # float32: as the twin's figures
        z *= self.sigma
        return np.exp(z, out=z)
