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
        Xs = self.scaler.transform(X)
        score = _isolation_scores(self.model, Xs) if _is_forest(self.model) else None
        if score is None:
            score = self.model.decision_function(Xs)
        return score < -self.margin


def _is_forest(model) -> bool:
    return type(model).__name__ == "IsolationForest"


def _isolation_scores(forest, X: np.ndarray) -> np.ndarray | None:
    """`IsolationForest.decision_function(X)` for the few rows a monitor asks about, without its per-tree
    joblib dispatch (about 50 us a tree, 5 ms a call: most of a library run's detector time). The same
    sums in the same order (sklearn's own sequential loop), so the same floats; None where this
    scikit-learn keeps its forest otherwise (the caller then asks the forest itself)."""
    try:
        from sklearn.ensemble._iforest import _average_path_length

        lengths, averages = forest._decision_path_lengths, forest._average_path_length_per_tree
        subsample = forest._max_features != X.shape[1]
        max_samples = forest._max_samples
    except (ImportError, AttributeError):
        return None
    X = np.ascontiguousarray(X, dtype=np.float32)  # the trees' dtype, as decision_function converts
    depths = np.zeros(X.shape[0], order="f")
    for k, (tree, features) in enumerate(zip(forest.estimators_, forest.estimators_features_)):
        leaves = tree.tree_.apply(X[:, features] if subsample else X)  # the fitted tree itself: no input checks
        depths += lengths[k][leaves] + averages[k][leaves] - 1.0
    denominator = len(forest.estimators_) * _average_path_length([max_samples])
    scores = 2 ** (-np.divide(depths, denominator, out=np.ones_like(depths), where=denominator != 0))
    return -scores - forest.offset_


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
