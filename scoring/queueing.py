"""Sending scoring work to the workers: one ``scoring.score_batch`` message per chunk of pending
transaction ids, by task name (the services that store transactions import no task module;
``scoring.tasks`` defines the task and imports the services)."""

from __future__ import annotations

import logging

from celery import current_app
from django.conf import settings

from core.middleware import current_request_id

logger = logging.getLogger(__name__)

SCORE_BATCH_TASK = "scoring.score_batch"  # scoring.tasks.score_batch


def score_batch_send(ids: list[int], request_id: str | None = None) -> None:
    """One scoring message for ``ids`` (raises what the broker raises)."""
    current_app.send_task(SCORE_BATCH_TASK, args=[ids], kwargs={"request_id": request_id})


def score_batch_enqueue(ids: list[int]) -> None:
    """Send one scoring message per chunk of ``INGEST_MAX_BATCH`` ids. A broker outage is
    logged, not raised: the rows are safe in the database as ``pending`` and the sweeper
    re-enqueues them."""
    chunk = settings.INGEST_MAX_BATCH
    for start in range(0, len(ids), chunk):
        try:
            score_batch_send(ids[start : start + chunk], request_id=current_request_id.get())
        except Exception:
            logger.exception("Could not enqueue scoring for %d transactions", len(ids))
