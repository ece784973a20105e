"""Anomaly detectors for the monitor's second stage (scikit-learn), plus a plain threshold.

scikit-learn is imported only when a learned detector is made: validating a scenario (which
checks the detector's name against `DETECTORS`) must not pay its second of import time.

The monitor's first stage is a vectorized rule screen over every service each tick; only the
few services it flags are scored here. Each detector is fitted on warm-up feature vectors
(normal behaviour only, normalized per service) and answers `anomalous(X) -> bool array`.
All of them are seeded from the monitor's generator.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

DETECTORS = ("isolation_forest", "lof", "ocsvm", "threshold")


class Detector(Protocol):
    def fit(self, X: np.ndarray) -> None: ...
    def anomalous(self, X: np.ndarray) -> np.ndarray: ...


class Threshold:
    """Stage one alone: whatever the rule screen flags is anomalous."""

    def fit(self, X: np.ndarray) -> None:
        pass

    def anomalous(self, X: np.ndarray) -> np.ndarray:
        return np.ones(len(X), dtype=bool)


class SklearnDetector:
    """A novelty detector over scaled features; `margin` > 0 makes it more conservative."""

    def __init__(self, model, margin: float = 0.0) -> None:
        from sklearn.preprocessing import StandardScaler

        self.model = model
        self.scaler = StandardScaler()
        self.margin = margin

    def fit(self, X: np.ndarray) -> None:
        Xs = self.scaler.fit_transform(X)
        self.model.fit(Xs)

    def anomalous(self, X: np.ndarray) -> np.ndarray:
        return self.model.decision_function(self.scaler.transform(X)) < -self.margin


def make_detector(name: str, seed: int) -> Detector:
    if name == "threshold":
        return Threshold()
    if name == "isolation_forest":
        from sklearn.ensemble import IsolationForest

        return SklearnDetector(IsolationForest(n_estimators=100, contamination=0.01, random_state=seed))
    if name == "lof":
        from sklearn.neighbors import LocalOutlierFactor

        return SklearnDetector(LocalOutlierFactor(n_neighbors=20, novelty=True, contamination=0.01))
    if name == "ocsvm":
        from sklearn.svm import OneClassSVM

        return SklearnDetector(OneClassSVM(nu=0.01, gamma="scale"))
    raise ValueError(f"unknown detector {name!r}; choose one of {', '.join(DETECTORS)}")
