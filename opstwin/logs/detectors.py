"""Detectors over template-count windows: the monitor's three and loglizer's PCA.

IsolationForest, LOF and one-class SVM are the monitor's own (:func:`opstwin.agents.detectors.
make_detector`: scaled features, contamination 1%, seeded), fitted on training windows (counts as
log(1 + n), so one burst does not dwarf every other column) and asked which test windows are
anomalous. PCA is loglizer's (Xu et al., SOSP 2009): tf-idf weighting and
zero mean, the principal subspace holding 95% of the variance, and a window is anomalous when its
squared prediction error exceeds the Q-statistic threshold (Jackson and Mudholkar, alpha 0.001).

Training sets are capped at :data:`MAX_TRAIN` windows (a seeded subsample) and test windows are
scored in chunks, so memory stays bounded on files of millions of lines.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

WINDOW_DETECTORS = ("isolation_forest", "lof", "ocsvm", "pca")
MAX_TRAIN = 20_000  # windows; LOF and OCSVM grow quadratically beyond this
CHUNK = 20_000  # test windows scored at a time


class PCADetector:
    """loglizer's PCA detector (see the module docstring)."""

    def __init__(self, variance: float = 0.95, c_alpha: float = 3.2905) -> None:
        self.variance, self.c_alpha = variance, c_alpha

    def _weigh(self, X: np.ndarray) -> np.ndarray:
        return X * self.idf - self.mean

    def fit(self, X: np.ndarray) -> None:
        df = (X > 0).sum(axis=0)
        self.idf = np.log((len(X) + 1) / (df + 1))  # tf-idf; a column never seen weighs log(N+1)
        self.mean = (X * self.idf).mean(axis=0)
        Y = self._weigh(X)
        cov = Y.T @ Y / max(len(Y), 1)
        lam, vec = np.linalg.eigh(cov)
        lam, vec = np.clip(lam[::-1], 0, None), vec[:, ::-1]
        total = lam.sum()
        k = int(np.searchsorted(np.cumsum(lam) / total, self.variance) + 1) if total > 0 else 0
        self.P = vec[:, :k]
        rest = lam[k:]
        phi = [float((rest ** j).sum()) for j in (1, 2, 3)]
        if phi[0] <= 1e-12 or phi[1] <= 1e-12:
            self.threshold = 1e-9  # training lies in the subspace: any residual is new
            return
        h0 = 1.0 - 2.0 * phi[0] * phi[2] / (3.0 * phi[1] ** 2)
        h0 = h0 if abs(h0) > 1e-6 else 1e-6
        self.threshold = phi[0] * (self.c_alpha * np.sqrt(2 * phi[1] * h0 ** 2) / phi[0] + 1.0
                                   + phi[1] * h0 * (h0 - 1.0) / phi[0] ** 2) ** (1.0 / h0)

    def anomalous(self, X: np.ndarray) -> np.ndarray:
        Y = self._weigh(X)
        residual = Y - (Y @ self.P) @ self.P.T
        return (residual ** 2).sum(axis=1) > self.threshold


def make(name: str, seed: int):
    """A fresh detector called `name` (one of :data:`WINDOW_DETECTORS`)."""
    if name == "pca":
        return PCADetector()
    from opstwin.agents.detectors import make_detector

    return make_detector(name, seed)


def fit_predict(name: str, train: sparse.csr_matrix, test: sparse.csr_matrix, seed: int) -> np.ndarray:
    """Fit `name` on the training windows and flag test windows (bool per test window)."""
    if train.shape[0] == 0:
        raise ValueError("no training windows (the training part is empty or every window is anomalous)")
    if train.shape[0] > MAX_TRAIN:
        keep = np.sort(np.random.default_rng(seed).choice(train.shape[0], MAX_TRAIN, replace=False))
        train = train[keep]
    detector = make(name, seed)
    detector.fit(np.log1p(train.toarray().astype(np.float64)) if name != "pca" else train.toarray().astype(np.float64))
    out = np.zeros(test.shape[0], dtype=bool)
    for a in range(0, test.shape[0], CHUNK):
        block = test[a:a + CHUNK].toarray().astype(np.float64)
        out[a:a + CHUNK] = detector.anomalous(block if name == "pca" else np.log1p(block))
    return out
