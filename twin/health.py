"""Health H(s): the share of user-facing requests served within SLO and without error.

Latency at an entry service is taken as log-normal with the tick's p50 and p99; the share
within SLO is its CDF at the SLO. H is the request-weighted mean over entry services of
(1 - error rate) x (share within SLO), in [0, 1]; with no user traffic it is 1.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

Z99 = 2.3263478740408408  # standard normal quantile at 0.99


def within_slo(p50: np.ndarray, p99: np.ndarray, slo: np.ndarray) -> np.ndarray:
    """P(latency <= slo) for log-normal latencies with the given p50 and p99."""
    sigma = np.maximum(np.log(np.maximum(p99, p50 * 1.0001) / p50) / Z99, 1e-3)
    return ndtr((np.log(slo) - np.log(p50)) / sigma)


def health(rate: np.ndarray, error: np.ndarray, p50: np.ndarray, p99: np.ndarray, slo: np.ndarray) -> float:
    """H over the given (entry) services; 1.0 when they receive no requests."""
    total = float(rate.sum())
    if total <= 0:
        return 1.0
    good = rate * (1.0 - error) * within_slo(p50, p99, slo)
    return float(np.clip(good.sum() / total, 0.0, 1.0))
