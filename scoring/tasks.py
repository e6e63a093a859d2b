"""Celery tasks of the scoring app. Thin: they take ids and call services."""

from __future__ import annotations

import logging
from datetime import datetime

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from core.middleware import current_request_id

from .engine.ml import ModelIntegrityError
from .services.drift import drift_report_create
from .services.ingest import transactions_requeue_stale
from .services.registry import model_train
from .services.scoring import NoChampionModelError, transactions_score

logger = logging.getLogger(__name__)


@shared_task(
    name="scoring.score_batch",
    bind=True,
    acks_late=True,
    max_retries=5,
    # A champion file that fails its SHA-256 check is retried too (the batch stays pending and is
    # never scored with it); the sweeper picks it up again once the registry is repaired.
    autoretry_for=(
        NoChampionModelError,
        ModelIntegrityError,
        ConnectionError,
        OperationalError,
        InterfaceError,
    ),
    retry_backoff=5,
    retry_backoff_max=300,
    retry_jitter=True,
    time_limit=300,
    soft_time_limit=240,
)
def score_batch(self, transaction_ids: list[int], request_id: str | None = None) -> dict:
    """Score a batch of transactions by primary key (idempotent: only pending rows are scored)."""
    token = current_request_id.set(request_id)
    try:
        outcome = transactions_score(transaction_ids=transaction_ids)
    finally:
        current_request_id.reset(token)
    return {"scored": outcome.scored, "skipped": outcome.skipped, "cases": outcome.cases}


@shared_task(name="scoring.sweep_pending", time_limit=120, soft_time_limit=100)
def sweep_pending() -> int:
    """Beat: re-enqueue transactions left pending by a dead worker or broker."""
    return transactions_requeue_stale()


@shared_task(
    name="scoring.drift_report",
    acks_late=True,
    max_retries=2,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=30,
    time_limit=600,
    soft_time_limit=540,
)
def drift_report(end: str | None = None) -> dict:
    """Beat: population stability of features and score, last 24 h vs the week before."""
    report = drift_report_create(end=datetime.fromisoformat(end) if end else None)
    return {"report": report.pk, "alert": report.alert, "score_psi": report.score_psi}


@shared_task(
    name="scoring.retrain_challenger",
    acks_late=True,
    max_retries=1,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=300,
    time_limit=1800,
    soft_time_limit=1700,
)
def retrain_challenger(seed: int = 0) -> dict:
    """Beat (only when ``MODEL_RETRAIN_ENABLED``): train on synthetic + labelled history and
    register the result as the challenger (champion only when there is none). It never replaces
    a champion: promotion stays a human decision."""
    if not settings.MODEL_RETRAIN_ENABLED:
        logger.info("Scheduled retraining is off (MODEL_RETRAIN_ENABLED); nothing done.")
        return {"trained": None}
    try:
        outcome = model_train(seed=seed, policy="auto", actor_label="system:retrain")
    except ValueError as exc:
        logger.warning("Scheduled retraining skipped: %s", exc)
        return {"trained": None, "error": str(exc)}
    return {"trained": outcome.model_version.version, "role": outcome.role}
