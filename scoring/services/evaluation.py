"""Back-test runs (``manage.py evaluate_model``) stored as ``EvaluationReport`` rows."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction

from core.audit import audit_record

from ..engine.evaluation import evaluate
from ..models import EvaluationReport
from ..selectors import champion_model, training_frame


def _json_ready(value: Any) -> Any:
    """Plain JSON types only (numpy scalars become floats/ints)."""
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if hasattr(value, "item"):
        return value.item()
    return value


def evaluation_run(*, holdout: float = 0.3, seed: int = 0, actor=None) -> EvaluationReport:
    """Back-test a fresh candidate against the baselines on the labelled transactions in the
    database (labels include investigators' dispositions) and store the report.

    Raises ``ValueError`` with an explanation when the data cannot be split into a training part
    and a hold-out that both have fraud and legitimate labels. The candidate's levels are
    calibrated with ``ALERT_BUDGETS``, as ``train_model`` does.
    """
    frame = training_frame()
    report = _json_ready(
        evaluate(frame, holdout=holdout, seed=seed, budgets=settings.ALERT_BUDGETS)
    )
    return evaluation_report_create(report=report, holdout=holdout, actor=actor)


@transaction.atomic
def evaluation_report_create(
    *, report: dict[str, Any], holdout: float, actor=None
) -> EvaluationReport:
    """Store one back-test report (with the champion of the moment for reference), audited."""
    stored = EvaluationReport.objects.create(
        holdout_share=holdout,
        rows=report["rows"],
        positives=report["positives"],
        report=report,
        model_version=champion_model(),
    )
    audit_record(
        action="model.evaluate",
        actor=actor,
        actor_label="" if actor else "system:evaluate_model",
        obj=stored,
        after={
            "rows": report["rows"],
            "positives": report["positives"],
            "candidate_average_precision": report["candidate"]["average_precision"],
            "selected": report.get("selected"),
        },
    )
    return stored
