"""Levels by alert budget and the displayed risk's resolution (scoring.engine.levels)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.engine.levels import (
    ANCHORS,
    LevelCalibration,
    calibrate_levels,
    display_risk,
    log_odds,
    risk_levels,
)


@pytest.fixture(scope="module")
def holdout():
    """200,000 normal rows with log-odds ~ N(-6, 1.5) and 400 frauds ~ N(4, 2)."""
    rng = np.random.default_rng(7)
    normal = rng.normal(-6, 1.5, 200_000)
    fraud = rng.normal(4, 2, 400)
    odds = np.concatenate([normal, fraud])
    labels = np.concatenate([np.zeros(len(normal)), np.ones(len(fraud))])
    return 1 / (1 + np.exp(-odds)), labels


@pytest.fixture(scope="module")
def calibration(holdout):
    proba, labels = holdout
    return calibrate_levels(probabilities=proba, labels=labels)


def test_thresholds_spend_the_alert_budget(holdout, calibration):
    proba, labels = holdout
    normal = proba[labels == 0]
    levels = risk_levels(calibration, normal)
    for level, budget in (("critical", 0.0005), ("high", 0.002), ("medium", 0.01)):
        at_or_above = {
            "critical": {"critical"},
            "high": {"high", "critical"},
            "medium": {"medium", "high", "critical"},
        }[level]
        share = np.isin(levels, list(at_or_above)).mean()
        assert share <= budget
        assert share >= budget * 0.9, (level, share)
        assert calibration.normal_share[level] == pytest.approx(share)
    # Known thresholds of N(-6, 1.5): the 99th, 99.8th and 99.95th percentiles.
    assert calibration.thresholds["medium"] == pytest.approx(-6 + 1.5 * 2.326, abs=0.05)
    assert calibration.thresholds["critical"] == pytest.approx(-6 + 1.5 * 3.291, abs=0.1)


def test_expected_precision_per_level(holdout, calibration):
    proba, labels = holdout
    levels = risk_levels(calibration, proba)
    for level in ("medium", "high", "critical"):
        band = levels == level
        assert calibration.rows[level] == band.sum()
        assert calibration.expected_precision[level] == pytest.approx(labels[band].mean())
    # Almost every fraud is critical and critical is almost pure.
    assert calibration.expected_precision["critical"] > 0.75


def test_display_is_monotone_and_anchored(calibration):
    grid = np.linspace(-15, 20, 5000)
    shown = display_risk(calibration, 1 / (1 + np.exp(-grid)))
    assert np.all(np.diff(shown) >= 0)
    assert shown.min() >= 0 and shown.max() < 100
    levels = risk_levels(calibration, 1 / (1 + np.exp(-grid)))
    for level, anchor in ANCHORS.items():
        # A displayed value at or above the anchor is that level or higher, and vice versa.
        ordered = ["low", "medium", "high", "critical"]
        at_least = np.isin(levels, ordered[ordered.index(level) :])
        assert np.array_equal(shown >= anchor, at_least), level


def test_two_critical_alerts_stay_apart(calibration):
    probabilities = np.array([0.99, 0.992, 0.995, 0.999, 0.9995, 0.9999, 0.99999, 0.999999])
    shown = display_risk(calibration, probabilities)
    assert np.all(shown >= ANCHORS["high"])
    assert np.all(np.diff(shown) > 0), shown


@settings(max_examples=200, deadline=None)
@given(
    st.floats(min_value=-3.0, max_value=20.0),
    st.floats(min_value=0.25, max_value=10.0),
)
def test_resolution_above_high(calibration, lower, gap):
    """Above high, odds a quarter of a unit apart never collapse into one displayed risk (up to
    the 99.9 cap)."""
    lo = max(lower, calibration.thresholds["high"])
    hi = min(lo + gap, 20.7)
    if hi - lo < 0.25:
        return
    shown = display_risk(calibration, 1 / (1 + np.exp(-np.array([lo, hi]))))
    assert shown[1] > shown[0] or shown[0] == 99.9


def test_round_trip_and_bad_budgets(calibration, holdout):
    again = LevelCalibration.from_dict(calibration.to_dict())
    proba, _ = holdout
    assert np.array_equal(
        display_risk(again, proba[:1000]), display_risk(calibration, proba[:1000])
    )
    with pytest.raises(ValueError, match="shrink"):
        calibrate_levels(
            probabilities=proba,
            labels=np.zeros(len(proba)),
            budgets={"medium": 0.001, "high": 0.002, "critical": 0.0005},
        )
    with pytest.raises(ValueError, match="normal"):
        calibrate_levels(probabilities=[0.9], labels=[1])


def test_log_odds_is_finite():
    assert np.isfinite(log_odds([0.0, 1.0])).all()
