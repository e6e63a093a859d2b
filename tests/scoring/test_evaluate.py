"""Evaluation metrics on a tiny known case, the back-test, and ``evaluate_model``."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from core.models import AuditEvent
from scoring.engine.evaluation import evaluate, per_pattern_metrics
from scoring.engine.ml import ranking_metrics
from scoring.models import EvaluationReport
from tests.helpers import load_history

METRIC_KEYS = {
    "average_precision",
    "roc_auc",
    "precision_at_1pct",
    "recall_at_1pct",
    "precision_at_5pct",
    "recall_at_5pct",
}


def known_case():
    """100 rows ranked by score; the 4 frauds sit at ranks 1, 2, 5 and 50."""
    scores = np.linspace(1.0, 0.01, 100)
    y = np.zeros(100, dtype=int)
    y[[0, 1, 4, 49]] = 1
    return y, scores


def test_metrics_on_a_tiny_known_case():
    y, scores = known_case()
    m = ranking_metrics(y, scores)
    assert m["average_precision"] == pytest.approx((1 / 1 + 2 / 2 + 3 / 5 + 4 / 50) / 4)
    # Negatives ranked below each fraud: 96, 96, 94, 50 out of 96 each.
    assert m["roc_auc"] == pytest.approx((96 + 96 + 94 + 50) / (4 * 96))
    assert m["precision_at_1pct"] == 1.0 and m["recall_at_1pct"] == 0.25  # top 1 row
    assert m["precision_at_5pct"] == pytest.approx(3 / 5) and m["recall_at_5pct"] == 0.75


def test_one_class_has_no_ranking_metrics():
    m = ranking_metrics(np.zeros(10, dtype=int), np.arange(10.0))
    assert m["average_precision"] is None and m["roc_auc"] is None
    assert m["recall_at_1pct"] == 0.0


def test_metrics_per_fraud_pattern():
    y, scores = known_case()
    patterns = np.array([""] * 100, dtype=object)
    patterns[[0, 4]] = "card_testing"
    patterns[[1, 49]] = "account_takeover"
    per = per_pattern_metrics(y, scores, patterns)
    assert per["card_testing"]["positives"] == 2
    # card testing against the 96 legitimate rows: ranks 1 and 4 among its subset
    assert per["card_testing"]["average_precision"] == pytest.approx((1 + 2 / 4) / 2)
    assert per["card_testing"]["recall_at_5pct"] == 1.0
    assert per["account_takeover"]["recall_at_1pct"] == 0.0
    assert per["account_takeover"]["recall_at_5pct"] == 0.5


def test_backtest_beats_the_baselines_on_synthetic_history(synthetic_history):
    report = evaluate(synthetic_history, holdout=0.3, seed=0)
    for key in ("candidate", "raw_gbm", "isolation_forest", "rank_by_amount"):
        assert set(report[key]) >= METRIC_KEYS
    labelled = len(synthetic_history)
    assert report["rows"] == pytest.approx(0.3 * labelled, abs=5)
    assert report["positives"] > 0
    assert "card_testing" in report["candidate"]["per_pattern"]
    ap = {k: report[k]["average_precision"] for k in ("candidate", "raw_gbm", "isolation_forest")}
    ap["rank_by_amount"] = report["rank_by_amount"]["average_precision"]
    assert ap["candidate"] > max(ap["raw_gbm"], ap["isolation_forest"], ap["rank_by_amount"]), ap
    assert "account_id" not in report["raw_columns"]


def test_backtest_errors_explain_the_problem(synthetic_history):
    with pytest.raises(ValueError, match="No labelled"):
        evaluate(synthetic_history.assign(is_fraud=np.nan))
    with pytest.raises(ValueError, match="between 0 and 1"):
        evaluate(synthetic_history, holdout=1.5)
    no_fraud_at_all = synthetic_history.assign(is_fraud=0)
    with pytest.raises(ValueError, match="only one class"):
        evaluate(no_fraud_at_all)


@pytest.mark.django_db
def test_evaluate_model_command_prints_json_last_and_stores_the_report(synthetic_history):
    load_history(synthetic_history)
    out = io.StringIO()
    call_command("evaluate_model", "--holdout", "0.3", "--json", stdout=out)
    lines = out.getvalue().strip().splitlines()
    summary = json.loads(lines[-1])
    assert {"candidate", "raw_gbm", "isolation_forest", "positives", "rows"} <= set(summary)
    assert set(summary["candidate"]) >= METRIC_KEYS
    assert any(line.startswith("candidate (ensemble)") for line in lines)
    stored = EvaluationReport.objects.get()
    assert stored.rows == summary["rows"] and stored.holdout_share == 0.3
    assert stored.report["candidate"]["average_precision"] == pytest.approx(
        summary["candidate"]["average_precision"]
    )
    assert AuditEvent.objects.filter(action="model.evaluate", object_id=str(stored.pk)).exists()


@pytest.mark.django_db
def test_evaluate_model_without_labels_explains_what_to_do():
    with pytest.raises(CommandError, match="import_transactions"):
        call_command("evaluate_model")
    with pytest.raises(CommandError, match="between 0 and 1"):
        call_command("evaluate_model", "--holdout", "0")
