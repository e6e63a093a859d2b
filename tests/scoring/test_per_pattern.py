"""Per-pattern metrics on a tiny fixture worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from scoring.engine.evaluation import per_pattern_metrics


def fixture():
    """20 rows: 16 normal (0.00-0.15), a ring of 2 and an unusual amount of 2."""
    normal = np.arange(16) / 100  # 0.00 .. 0.15
    scores = np.concatenate([normal, [0.90, 0.125, 0.95, 0.80]])
    y = np.array([0] * 16 + [1, 1, 1, 1])
    patterns = np.array([""] * 16 + ["collusion_ring"] * 2 + ["unusual_amount"] * 2, dtype=object)
    return y, scores, patterns


def test_each_pattern_against_normal_traffic_only():
    y, scores, patterns = fixture()
    per = per_pattern_metrics(y, scores, patterns)
    assert sorted(per) == ["collusion_ring", "unusual_amount"]
    ring = per["collusion_ring"]
    assert ring["positives"] == 2
    # 0.90 ranks first; 0.125 behind 0.15, 0.14, 0.13 (5th of its subset): (1 + 2/5) / 2
    assert ring["average_precision"] == pytest.approx((1 + 2 / 5) / 2)
    # The other pattern's rows do not count against it: both of its rows lead, AP 1.
    assert per["unusual_amount"]["average_precision"] == 1.0


def test_recall_when_the_alert_budget_is_alerted():
    y, scores, patterns = fixture()
    # A 20 % budget alerts the top 4 of 20 rows: 0.95, 0.90, 0.80 and the normal 0.15.
    per = per_pattern_metrics(y, scores, patterns, budgets={"medium": 0.2})
    assert per["collusion_ring"]["recall_at_budget"] == 0.5
    assert per["unusual_amount"]["recall_at_budget"] == 1.0
    assert per["collusion_ring"]["alert_budget"] == 0.2
    # Default: the medium level's 1 %, at least one row: only 0.95, half the unusual amounts.
    default = per_pattern_metrics(y, scores, patterns)
    assert default["collusion_ring"]["alert_budget"] == 0.01
    assert default["collusion_ring"]["recall_at_budget"] == 0.0
    assert default["unusual_amount"]["recall_at_budget"] == 0.5
    assert default["unusual_amount"]["recall_at_5pct"] == 0.5  # top 5 % of 20 rows: one row


def test_fraud_without_a_pattern_name_is_not_a_pattern():
    y = np.array([0, 0, 0, 0, 1, 1])
    scores = np.array([0.1, 0.2, 0.3, 0.5, 0.3, 0.9])
    patterns = np.array(["", "", "", "", "card_testing", None], dtype=object)
    per = per_pattern_metrics(y, scores, patterns, budgets={"medium": 0.5})
    assert list(per) == ["card_testing"]
    # The top 3 rows: 0.9 (unnamed), 0.5 (normal), then the tie at 0.3 goes to the earlier row.
    assert per["card_testing"]["recall_at_budget"] == 0.0
    # Against normal rows only (the unnamed fraud left out): 0.5, then 0.3 tied with a normal
    # row: one hit in three rows at full recall.
    assert per["card_testing"]["average_precision"] == pytest.approx(1 / 3)
