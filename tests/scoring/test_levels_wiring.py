"""Alert-budget levels wired through training, scoring, cases, the registry page and evaluation
(issue 12, part 1). The level maths itself is tested in ``tests/scoring/engine/test_levels.py``."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from io import StringIO
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from core.models import AuditEvent
from fraudcases.models import Case
from fraudcases.selectors import case_list
from fraudcases.services import CaseHit, cases_open_or_attach
from fraudcases.services.opening import case_priority
from scoring.engine.evaluation import level_metrics
from scoring.engine.levels import ANCHORS, LEVELS, log_odds
from scoring.engine.ml import (
    artifact_levels,
    file_sha256,
    load_artifact,
    model_risk,
    save_artifact,
)
from scoring.models import ModelVersion, Transaction
from scoring.services import scoring as scoring_service
from scoring.services.ingest import transactions_submit
from scoring.services.registry import champion_cache, model_train
from scoring.services.scoring import transactions_score
from tests.factories import CaseFactory, TransactionFactory
from tests.helpers import api_items, load_history, split_history


def _level_for(risk: float) -> str:
    """The level the 40/70/90 anchors give a displayed risk."""
    level = "low"
    for name in LEVELS:
        if risk >= ANCHORS[name]:
            level = name
    return level


def _score_recent(synthetic_history) -> list[int]:
    older, recent = split_history(synthetic_history)
    load_history(older)
    ids = transactions_submit(
        items=api_items(recent), source=Transaction.Source.API, mode="sync"
    ).ids
    transactions_score(transaction_ids=ids)
    return ids


@pytest.fixture
def worker_probabilities(monkeypatch):
    """The champion's probability per transaction id, as the worker computed it while scoring.

    A recording wrapper around the scoring service's call to ``explain`` (which receives the
    batch rows and their probabilities); behaviour is unchanged. Recomputing the features
    afterwards would not do: they depend slightly on the order the database returns rows in
    (see the report of issue 12), and PostgreSQL returns updated rows in another order."""
    seen: dict[int, float] = {}
    real = scoring_service.explain

    def recording(artifact, features, raw, proba):
        seen.update(zip(raw["id"].astype(int), map(float, proba), strict=True))
        return real(artifact, features, raw, proba)

    monkeypatch.setattr(scoring_service, "explain", recording)
    return seen


# --- training -------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.django_db
def test_training_stores_levels_in_the_artifact_the_version_and_the_registry_page(
    synthetic_history, make_user, settings
):
    settings.ALERT_BUDGETS = {"medium": 0.02, "high": 0.005, "critical": 0.001}
    load_history(synthetic_history)
    outcome = model_train(policy="promote", actor_label="test")
    mv = ModelVersion.objects.get(pk=outcome.model_version.pk)
    artifact = load_artifact(Path(mv.file_path), sha256=mv.sha256)
    calibration = artifact_levels(artifact)
    assert calibration is not None
    assert calibration.budgets == settings.ALERT_BUDGETS
    # Thresholds rise with severity, and each level spends at most its budget of normal traffic.
    thresholds = [calibration.thresholds[level] for level in LEVELS]
    assert thresholds == sorted(thresholds) and len(set(thresholds)) == 3
    stored = mv.training_summary["levels"]
    for level in LEVELS:
        assert stored[level]["log_odds"] == pytest.approx(calibration.thresholds[level], abs=1e-4)
        assert stored[level]["budget"] == settings.ALERT_BUDGETS[level]
        assert stored[level]["normal_share"] <= settings.ALERT_BUDGETS[level]
        assert stored[level]["rows"] == calibration.rows[level]
        assert stored[level]["expected_precision"] == (
            None
            if calibration.expected_precision[level] is None
            else pytest.approx(calibration.expected_precision[level], abs=1e-4)
        )
    # Calibrated on the training calibration slice (latest 20 % of labelled rows), not all of it.
    assert sum(calibration.rows.values()) <= mv.metrics["holdout_rows"]

    client = Client()
    client.force_login(make_user("supervisor", "sup-levels"))
    page = client.get("/models/").content.decode()
    assert "Risk levels by alert budget" in page
    assert "0.50 %" in page  # the high budget, 0.005 of normal traffic
    detail = client.get(f"/models/{mv.pk}/").content.decode()
    assert "Risk levels by alert budget" in detail
    assert f"{stored['critical']['log_odds']:.2f}" in detail


@pytest.mark.django_db
def test_bad_budgets_are_refused_before_anything_is_registered(synthetic_history, settings):
    settings.ALERT_BUDGETS = {"medium": 0.001, "high": 0.002, "critical": 0.0005}
    load_history(synthetic_history[synthetic_history["account_id"] <= "acct-000040"])
    with pytest.raises(ValueError, match="shrink"):
        model_train(policy="candidate", actor_label="test")
    assert not ModelVersion.objects.exists()


# --- scoring --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_batch_gets_one_decimal_risks_and_levels_from_the_calibration(
    champion, trained_model_file, synthetic_history, api_client, worker_probabilities
):
    _, _, trained = trained_model_file
    calibration = artifact_levels(trained.artifact)
    assert calibration is not None
    ids = _score_recent(synthetic_history)
    proba = worker_probabilities
    assert set(proba) == set(ids)
    rows = list(Transaction.objects.filter(id__in=ids))
    assert len(rows) == len(ids) and all(t.status == "scored" for t in rows)
    shown = model_risk(trained.artifact, np.array(list(proba.values())))
    expected = dict(zip(proba, shown, strict=True))
    for t in rows:
        assert t.risk_score == expected[t.id]  # no rule is active: the model's own risk
        assert round(t.risk_score, 1) == t.risk_score and 0 <= t.risk_score < 100
        assert t.risk_level == _level_for(t.risk_score)
        odds = log_odds([proba[t.id]])[0]
        calibrated = "low"
        for level in LEVELS:
            if odds >= calibration.thresholds[level]:
                calibrated = level
        assert t.risk_level == calibrated
    assert any(t.risk_score != int(t.risk_score) for t in rows)  # decimals are kept
    # Cases carry the highest risk of their transactions, with its decimal.
    for case in Case.objects.all():
        top = max(t.risk_score for t in case.transactions.all())
        assert case.risk_score == top
    # The API returns the same number.
    risky = max(rows, key=lambda t: (t.risk_score != int(t.risk_score), t.risk_score))
    response = api_client.get(f"/api/v1/transactions/{risky.external_id}")
    assert response.status_code == 200, response.content
    assert response.json()["risk_score"] == risky.risk_score
    assert isinstance(response.json()["risk_score"], float)


@pytest.mark.django_db
def test_different_probabilities_above_high_never_collapse(
    champion, trained_model_file, synthetic_history, worker_probabilities
):
    """Integration: rows the worker scored at high or above whose odds differ by a quarter of a
    unit or more show different stored risks (until the 99.9 cap), where the old probability ×
    100 put most of them on a handful of values."""
    _, _, trained = trained_model_file
    calibration = artifact_levels(trained.artifact)
    ids = _score_recent(synthetic_history)
    proba = worker_probabilities
    stored = dict(Transaction.objects.filter(id__in=ids).values_list("id", "risk_score"))
    above = sorted(
        (float(log_odds([p])[0]), stored[i], p)
        for i, p in proba.items()
        if log_odds([p])[0] >= calibration.thresholds["high"]
    )
    assert len(above) >= 5, "the fixture should score several rows at high or above"
    for (odds_a, risk_a, _), (odds_b, risk_b, _) in pairwise(above):
        assert risk_b >= risk_a  # monotone
        if odds_b - odds_a >= 0.25:
            assert risk_b > risk_a or risk_a == 99.9, (odds_a, odds_b, risk_a)
    new_distinct = len({r for _, r, _ in above})
    old_distinct = len({int(np.rint(p * 100)) for _, _, p in above})
    assert new_distinct > old_distinct, (new_distinct, old_distinct, len(above))


@pytest.mark.django_db
def test_an_artifact_without_levels_keeps_whole_number_scores(
    trained_model_file, synthetic_history, worker_probabilities
):
    _, _, trained = trained_model_file
    legacy = {k: v for k, v in trained.artifact.items() if k != "levels"}
    path = Path(settings.MODEL_STORE_DIR) / "legacy-no-levels.joblib"
    sha = save_artifact(legacy, path)
    assert file_sha256(path) == sha
    champion_cache.clear()
    ModelVersion.objects.create(
        version="legacy",
        algorithm=legacy["algorithm"],
        role=ModelVersion.Role.CHAMPION,
        file_path=str(path),
        sha256=sha,
        feature_names=legacy["feature_names"],
        training_summary={},
        metrics={},
    )
    try:
        ids = _score_recent(synthetic_history)
        proba = worker_probabilities
        for t in Transaction.objects.filter(id__in=ids):
            assert t.risk_score == float(np.clip(np.rint(proba[t.id] * 100), 0, 100))
            assert t.risk_level == _level_for(t.risk_score)
    finally:
        champion_cache.clear()
        path.unlink(missing_ok=True)


# --- case priority: level and exposure --------------------------------------------------------


def test_priority_is_the_level_raised_one_step_by_exposure(settings):
    settings.CASE_EXPOSURE_ESCALATION = Decimal("10000")
    assert case_priority(level="high", exposure=Decimal("10000")) == "high"  # exceeds, not equals
    assert case_priority(level="high", exposure=Decimal("10000.01")) == "critical"
    assert case_priority(level="medium", exposure=Decimal("50000")) == "high"
    assert case_priority(level="critical", exposure=Decimal("1e9")) == "critical"
    assert case_priority(level="low", exposure=Decimal("0")) == "low"


def _txns(account: str, amounts: list[str], *, currency: str = "USD", risk: float = 75.0):
    return [
        TransactionFactory(
            account_id=account,
            amount=Decimal(a),
            currency=currency,
            risk_score=risk,
            risk_level=_level_for(risk),
        )
        for a in amounts
    ]


def _hit(account: str, txns, risk: float) -> CaseHit:
    return CaseHit(
        account_id=account,
        transaction_ids=[t.pk for t in txns],
        risk_score=risk,
        risk_level=_level_for(risk),
        reasons=["amount 14.2× this account's 30-day average"],
        model_version="m",
    )


@pytest.mark.django_db
def test_a_case_whose_exposure_exceeds_the_setting_opens_one_step_higher(settings):
    settings.DEFAULT_CURRENCY = "USD"
    settings.CASE_EXPOSURE_ESCALATION = Decimal("10000")
    small = _txns("acct-small", ["400.00", "600.00"])
    large = _txns("acct-large", ["7000.00", "3500.00"])
    foreign = _txns("acct-eur", ["9000.00", "9000.00"], currency="EUR")
    hits = [
        _hit(acct, txns, 75.3)
        for acct, txns in (("acct-small", small), ("acct-large", large), ("acct-eur", foreign))
    ]
    cases_open_or_attach(hits=hits)
    by_account = {c.account_id: c for c in Case.objects.all()}
    assert by_account["acct-small"].priority == "high"
    large_case = by_account["acct-large"]
    assert (large_case.priority, large_case.risk_level) == ("critical", "high")
    assert large_case.risk_score == 75.3
    sla = timedelta(hours=settings.CASE_SLA_HOURS["critical"])
    assert large_case.due_at <= timezone.now() + sla
    opened = AuditEvent.objects.get(case=large_case, action="case.open")
    assert opened.after["exposure"] == "10500.00" and opened.after["priority"] == "critical"
    # Amounts in another currency are not converted, so they do not count.
    assert by_account["acct-eur"].priority == "high"


@pytest.mark.django_db
def test_attaching_raises_priority_once_the_case_total_exceeds_the_setting(settings):
    settings.DEFAULT_CURRENCY = "USD"
    settings.CASE_EXPOSURE_ESCALATION = Decimal("10000")
    first = _txns("acct-grow", ["6000.00"])
    (case,) = cases_open_or_attach(hits=[_hit("acct-grow", first, 72.0)])
    assert case.priority == "high"
    second = _txns("acct-grow", ["5000.00"], risk=71.5)
    (again,) = cases_open_or_attach(hits=[_hit("acct-grow", second, 71.5)])
    case.refresh_from_db()
    assert again.pk == case.pk
    assert (case.priority, case.risk_level, case.risk_score) == ("critical", "high", 72.0)
    event = AuditEvent.objects.get(case=case, action="case.attach_transactions")
    assert event.before["priority"] == "high" and event.after["priority"] == "critical"
    assert event.after["exposure"] == "11000.00"


@pytest.mark.django_db
def test_the_queue_sorts_by_risk_by_default_ties_by_priority_then_age(make_user):
    user = make_user("investigator", "inv-levels")
    older = CaseFactory(risk_score=91.2, priority="critical", risk_level="critical")
    newer = CaseFactory(risk_score=91.2, priority="critical", risk_level="critical")
    exposed = CaseFactory(risk_score=91.2, priority="high", risk_level="high")
    top = CaseFactory(risk_score=95.7, priority="critical", risk_level="critical")
    low = CaseFactory(risk_score=72.4, priority="critical", risk_level="high")
    Case.objects.filter(pk=older.pk).update(created_at=timezone.now() - timedelta(days=2))
    order = list(case_list(user=user).values_list("pk", flat=True))
    assert order == [top.pk, older.pk, newer.pk, exposed.pk, low.pk]
    client = APIClient()
    client.force_login(user)
    body = client.get("/api/v1/cases").json()
    results = body["results"] if isinstance(body, dict) else body
    assert [c["id"] for c in results] == order
    assert results[0]["risk_score"] == 95.7
    page = Client()
    page.force_login(user)
    html = page.get("/cases/").content.decode()
    assert html.index(">95.7<") < html.index(">72.4<")


# --- evaluation -----------------------------------------------------------------------------


def test_level_metrics_on_a_known_hold_out():
    y = np.array([0] * 90 + [1] * 10)
    levels = np.array(
        ["low"] * 85
        + ["medium"] * 4
        + ["high"] * 1  # 90 normal rows
        + ["low"] * 1
        + ["medium"] * 1
        + ["high"] * 3
        + ["critical"] * 5,  # 10 frauds
        dtype=object,
    )
    out = level_metrics(y, levels, expected={"critical": 0.9})
    assert out["critical"] == {
        "rows": 5,
        "share": 0.05,
        "normal_share_at_or_above": 0.0,
        "fraud": 5,
        "precision": 1.0,
        "recall": 0.5,
        "precision_at_or_above": 1.0,
        "recall_at_or_above": 0.5,
        "expected_precision": 0.9,
    }
    assert out["high"]["precision"] == 0.75 and out["high"]["recall"] == 0.3
    assert out["high"]["precision_at_or_above"] == pytest.approx(8 / 9)
    assert out["high"]["normal_share_at_or_above"] == pytest.approx(1 / 90)
    assert out["medium"]["share"] == 0.05 and out["medium"]["precision"] == 0.2
    assert out["low"]["rows"] == 86 and out["low"]["recall_at_or_above"] == 1.0
    assert sum(r["share"] for r in out.values()) == pytest.approx(1.0)


@pytest.mark.slow
@pytest.mark.django_db
def test_evaluate_model_reports_precision_recall_and_share_per_level(synthetic_history):
    load_history(synthetic_history)
    out = StringIO()
    call_command("evaluate_model", "--holdout", "0.3", "--json", stdout=out)
    text = out.getvalue()
    assert "Candidate per risk level on the hold-out (alert-budget levels" in text
    report = json.loads(text.strip().splitlines()[-1])
    candidate = report["candidate"]
    assert candidate["levels_from"] == "alert_budget"
    levels = candidate["levels"]
    assert set(levels) == {"low", "medium", "high", "critical"}
    assert sum(r["rows"] for r in levels.values()) == report["rows"]
    assert sum(r["fraud"] for r in levels.values()) == report["positives"]
    assert sum(r["share"] for r in levels.values()) == pytest.approx(1.0)
    assert sum(r["recall"] for r in levels.values()) == pytest.approx(1.0)
    for name, row in levels.items():
        if row["rows"]:
            assert row["precision"] == pytest.approx(row["fraud"] / row["rows"])
        if name != "low":
            assert "expected_precision" in row
    assert levels["low"]["precision_at_or_above"] == pytest.approx(
        report["positives"] / report["rows"]
    )
