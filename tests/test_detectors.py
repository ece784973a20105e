"""The monitor's learned second stage: each detector, fitted on normal feature vectors, tells
a clear outlier from an ordinary point (so the borderline calls it makes are real decisions)."""

from __future__ import annotations

import numpy as np
import pytest

from opstwin.agents.detectors import DETECTORS, make_detector


@pytest.mark.parametrize("name", [d for d in DETECTORS if d != "threshold"])
def test_a_detector_flags_an_outlier_and_passes_an_ordinary_point(name):
    rng = np.random.default_rng(0)
    normal = rng.normal(0.0, 1.0, size=(2000, 6))
    detector = make_detector(name, seed=1)
    detector.fit(normal)
    ordinary = np.zeros((1, 6))
    outlier = np.array([[0.0, 0.0, 4.5, 0.0, 4.5, 0.0]])  # two features far out together
    assert detector.anomalous(ordinary).tolist() == [False]
    assert detector.anomalous(outlier).tolist() == [True]
    assert detector.anomalous(normal).mean() < 0.05  # few false positives on what it learned


def test_threshold_trusts_the_rule_screen_and_unknown_names_are_refused():
    assert make_detector("threshold", seed=0).anomalous(np.zeros((3, 6))).tolist() == [True] * 3
    with pytest.raises(ValueError, match="unknown detector 'magic'"):
        make_detector("magic", seed=0)


def test_the_isolation_forests_fast_scores_are_its_own_to_the_bit():
    """The monitor scores a few rows a tick without sklearn's per-tree dispatch: the same floats."""
    from opstwin.agents.detectors import _isolation_scores, make_detector

    rng = np.random.default_rng(3)
    detector = make_detector("isolation_forest", 7)
    detector.fit(rng.standard_normal((2000, 6)))
    for n in (1, 5, 300):
        X = detector.scaler.transform(rng.standard_normal((n, 6)) * 3)
        assert np.array_equal(_isolation_scores(detector.model, X), detector.model.decision_function(X))
