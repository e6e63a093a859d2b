"""Celery tasks of the scoring app. Thin: they take ids and call services."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import InterfaceError, OperationalError

from fraudcases.middleware import current_request_id

from .services.scoring import NoChampionModelError, transactions_score

logger = logging.getLogger(__name__)


@shared_task(
    name="scoring.score_batch",
    bind=True,
    acks_late=True,
    max_retries=5,
    autoretry_for=(NoChampionModelError, ConnectionError, OperationalError, InterfaceError),
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
    from .services.ingest import transactions_requeue_stale

    return transactions_requeue_stale()
