"""Drift reports: population stability of every feature and of the score, recent vs reference."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.audit import audit_record

from ..engine.drift import psi, score_psi
from ..models import DriftReport
from ..selectors import champion_model, scored_window_frame

logger = logging.getLogger(__name__)
SYSTEM_DRIFT = "system:drift"


@transaction.atomic
def drift_report_create(
    *,
    end: datetime | None = None,
    current_hours: int | None = None,
    reference_days: int | None = None,
    threshold: float | None = None,
) -> DriftReport:
    """Compare the scored transactions of the last ``current_hours`` (to ``end``) with the
    ``reference_days`` before them; store the PSI per feature and for the score.

    Alerts (log, ``alert`` flag, audit event ``model.drift_alert``) when the score's PSI or any
    feature's PSI is above ``threshold``. A window with fewer than ``DRIFT_MIN_ROWS`` rows gives
    no PSI rather than a noisy one.
    """
    end = end or timezone.now()
    current_hours = current_hours or settings.DRIFT_CURRENT_HOURS
    reference_days = reference_days or settings.DRIFT_REFERENCE_DAYS
    threshold = settings.DRIFT_PSI_THRESHOLD if threshold is None else threshold
    current_start = end - timedelta(hours=current_hours)
    reference_start = current_start - timedelta(days=reference_days)
    limit = settings.DRIFT_MAX_ROWS
    reference = scored_window_frame(start=reference_start, end=current_start, limit=limit)
    current = scored_window_frame(start=current_start, end=end, limit=limit)
    enough = min(len(reference), len(current)) >= settings.DRIFT_MIN_ROWS
    feature_psi: dict[str, float] = {}
    score_value = None
    if enough:
        names = sorted((set(reference.columns) | set(current.columns)) - {"risk_score"})
        for name in names:
            value = psi(
                reference[name].to_numpy(dtype=float) if name in reference else [float("nan")],
                current[name].to_numpy(dtype=float) if name in current else [float("nan")],
            )
            if value is not None:
                feature_psi[name] = round(value, 4)
        score_value = score_psi(
            reference["risk_score"].to_numpy(dtype=float),
            current["risk_score"].to_numpy(dtype=float),
        )
        score_value = None if score_value is None else round(score_value, 4)
    worst = sorted(feature_psi.items(), key=lambda kv: -kv[1])
    drifted = [name for name, value in worst if value > threshold]
    alert = bool(drifted) or (score_value is not None and score_value > threshold)
    report = DriftReport.objects.create(
        model_version=champion_model(),
        reference_start=reference_start,
        reference_end=current_start,
        current_start=current_start,
        current_end=end,
        feature_psi=feature_psi,
        score_psi=score_value,
        threshold=threshold,
        alert=alert,
    )
    summary = {
        "reference_rows": len(reference),
        "current_rows": len(current),
        "score_psi": score_value,
        "drifted_features": drifted[:10],
        "threshold": threshold,
    }
    audit_record(action="model.drift_report", actor_label=SYSTEM_DRIFT, obj=report, after=summary)
    if alert:
        logger.warning(
            "Drift alert: score PSI %s, features above %.2f: %s",
            score_value,
            threshold,
            ", ".join(f"{n}={feature_psi[n]:.2f}" for n in drifted[:10]) or "none",
        )
        audit_record(
            action="model.drift_alert", actor_label=SYSTEM_DRIFT, obj=report, after=summary
        )
    elif not enough:
        logger.info(
            "Drift report: not enough scored transactions (%d reference, %d current; need %d)",
            len(reference),
            len(current),
            settings.DRIFT_MIN_ROWS,
        )
    return report
