"""Drift: population stability index, stored reports, alerts."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from core.models import AuditEvent
from scoring.engine.drift import EPSILON, psi, score_psi
from scoring.models import DriftReport, Transaction
from scoring.tasks import drift_report

END = datetime(2026, 11, 1, tzinfo=UTC)


def test_psi_of_identical_distributions_is_zero():
    values = np.random.default_rng(0).normal(size=5000)
    assert psi(values, values) == pytest.approx(0.0, abs=1e-12)


def test_psi_of_a_known_shift():
    """Half of the reference's deciles emptied: 5 bins go 0.1 -> 0.2, 5 go 0.1 -> EPSILON."""
    reference = np.arange(1000, dtype=float)
    current = np.arange(500, dtype=float)
    expected = 5 * (0.2 - 0.1) * np.log(0.2 / 0.1) + 5 * (EPSILON - 0.1) * np.log(EPSILON / 0.1)
    assert psi(reference, current) == pytest.approx(expected, rel=1e-6)


def test_psi_of_a_mean_shift_of_half_a_standard_deviation():
    rng = np.random.default_rng(1)
    reference, current = rng.normal(0, 1, 50_000), rng.normal(0.5, 1, 50_000)
    assert 0.18 < psi(reference, current) < 0.3  # about delta squared
    assert psi(reference, rng.normal(0, 1, 50_000)) < 0.01


def test_psi_handles_binary_features_and_missing_values():
    reference = np.array([0.0] * 900 + [1.0] * 100)
    current = np.array([0.0] * 500 + [1.0] * 500)
    expected = (0.5 - 0.9) * np.log(0.5 / 0.9) + (0.5 - 0.1) * np.log(0.5 / 0.1)
    assert psi(reference, current) == pytest.approx(expected, rel=1e-6)
    # A feature that stops being computed (all missing) is drift, not an error.
    assert psi(reference, np.full(1000, np.nan)) > 1
    assert psi(np.array([]), current) is None


def test_score_psi_uses_fixed_bins():
    assert score_psi(np.full(100, 5.0), np.full(100, 95.0)) > 5
    assert score_psi(np.full(100, 5.0), np.full(100, 8.0)) == pytest.approx(0.0)


def _scored(prefix: str, start: datetime, hours: float, n: int, *, amount_log, score) -> None:
    step = timedelta(hours=hours) / n
    Transaction.objects.bulk_create(
        Transaction(
            external_id=f"{prefix}-{i}",
            account_id=f"acct-{i % 20}",
            amount=Decimal("10.00"),
            currency="USD",
            occurred_at=start + step * i,
            status=Transaction.Status.SCORED,
            risk_score=int(score[i]),
            features={"amount_log": float(amount_log[i]), "count_1h": float(i % 3)},
        )
        for i in range(n)
    )


@pytest.fixture
def shifted(db, champion):
    rng = np.random.default_rng(2)
    current_start = END - timedelta(hours=24)
    _scored(
        "ref",
        current_start - timedelta(days=7),
        24 * 7,
        700,
        amount_log=rng.normal(3, 1, 700),
        score=rng.integers(0, 30, 700),
    )
    _scored(
        "cur",
        current_start,
        24,
        300,
        amount_log=rng.normal(5, 1, 300),
        score=rng.integers(0, 30, 300),
    )


def test_drift_report_flags_the_shifted_feature_and_audits_the_alert(shifted, champion):
    result = drift_report.apply(kwargs={"end": END.isoformat()}).get()
    report = DriftReport.objects.get(pk=result["report"])
    assert report.alert and result["alert"]
    assert report.model_version == champion
    assert report.feature_psi["amount_log"] > 1
    assert report.feature_psi["count_1h"] < 0.1
    assert report.score_psi < 0.2
    assert report.current_start == END - timedelta(hours=24)
    assert report.reference_start == END - timedelta(hours=24, days=7)
    alert = AuditEvent.objects.get(action="model.drift_alert", object_id=str(report.pk))
    assert alert.actor_label == "system:drift"
    assert alert.after["drifted_features"] == ["amount_log"]
    assert AuditEvent.objects.filter(action="model.drift_report").count() == 1


def test_no_alert_under_the_threshold_and_no_psi_without_data(shifted):
    report = DriftReport.objects.get(
        pk=drift_report.apply(kwargs={"end": END.isoformat()}).get()["report"]
    )
    assert report.alert
    quiet_end = END - timedelta(days=3)  # both windows inside the stable reference period
    out = io.StringIO()
    call_command("drift_report", end=quiet_end.isoformat(), as_json=True, stdout=out)
    data = json.loads(out.getvalue().strip().splitlines()[-1])
    assert data["alert"] is False and data["feature_psi"]["amount_log"] < 0.2
    assert not AuditEvent.objects.filter(
        action="model.drift_alert", object_id=str(data["id"])
    ).exists()
    out = io.StringIO()
    call_command("drift_report", end="2020-01-01T00:00:00+00:00", stdout=out)
    assert "Not enough scored transactions" in out.getvalue()
    empty = DriftReport.objects.latest("id")
    assert empty.feature_psi == {} and empty.score_psi is None and not empty.alert


@pytest.mark.django_db
def test_drift_report_command_rejects_bad_input():
    with pytest.raises(CommandError, match="time zone"):
        call_command("drift_report", end="2026-01-01T00:00:00", stdout=io.StringIO())
    with pytest.raises(CommandError, match="ISO 8601"):
        call_command("drift_report", end="yesterday", stdout=io.StringIO())
    with pytest.raises(CommandError, match="positive"):
        call_command("drift_report", hours=0, stdout=io.StringIO())
    assert not DriftReport.objects.exists()
