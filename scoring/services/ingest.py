"""Ingestion: validated transactions are stored in one bulk insert and scored asynchronously."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ..models import ApiKey, Transaction

logger = logging.getLogger(__name__)


@dataclass
class IngestResult:
    """``accepted`` new rows (their ids) and ``duplicates`` already known by external id."""

    accepted: int
    duplicates: int
    ids: list[int]


def _enqueue(ids: list[int]) -> None:
    """Send one scoring task per chunk. A broker outage is logged, not raised: the rows are safe
    in the database as ``pending`` and the sweeper re-enqueues them."""
    from fraudcases.middleware import current_request_id

    from ..tasks import score_batch

    chunk = settings.INGEST_MAX_BATCH
    for start in range(0, len(ids), chunk):
        try:
            score_batch.delay(ids[start : start + chunk], request_id=current_request_id.get())
        except Exception:
            logger.exception("Could not enqueue scoring for %d transactions", len(ids))


def transactions_ingest(
    *,
    items: list[dict],
    api_key: ApiKey | None = None,
    source: str = Transaction.Source.API,
    mode: str = "async",
) -> IngestResult:
    """Store already-validated transaction dicts; idempotent on ``external_id``.

    One bulk insert with ``ignore_conflicts``: a re-posted (or concurrently posted) external id is
    skipped by the database's unique index, so it is counted as a duplicate and never stored twice.
    The rows this call inserted are found again by the batch id stamped on them.

    ``mode``: ``async`` stores them pending and enqueues scoring after commit; ``sync`` stores them
    pending for the caller to score now (the sweeper retries if that fails); ``history`` stores
    them as imported history that is not scored live.
    """
    if mode not in ("async", "sync", "history"):
        raise ValueError(f"Unknown ingest mode {mode!r}")
    enqueue = mode == "async"
    batch_id = uuid.uuid4()
    now = timezone.now()
    status = Transaction.Status.IMPORTED if mode == "history" else Transaction.Status.PENDING
    rows = [
        Transaction(
            **item,
            source=source,
            api_key=api_key,
            ingest_batch=batch_id,
            status=status,
            enqueued_at=None if mode == "history" else now,
        )
        for item in items
    ]
    with transaction.atomic():
        Transaction.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
        ids = list(
            Transaction.objects.filter(ingest_batch=batch_id)
            .order_by("id")
            .values_list("id", flat=True)
        )
        if enqueue and ids:
            transaction.on_commit(lambda: _enqueue(ids))
    return IngestResult(accepted=len(ids), duplicates=len(items) - len(ids), ids=ids)


def transactions_requeue_stale(*, limit: int = 50_000) -> int:
    """Re-enqueue pending transactions whose scoring task was presumably lost.

    A row is retried a bounded number of times, then marked ``failed`` with the reason.
    """
    from django.db.models import F

    from ..selectors import pending_stale_ids

    threshold = timezone.now() - timezone.timedelta(seconds=settings.PENDING_SWEEP_AFTER_SECONDS)
    ids = pending_stale_ids(older_than=threshold, limit=limit)
    if not ids:
        return 0
    with transaction.atomic():
        given_up = Transaction.objects.filter(
            id__in=ids, scoring_attempts__gte=settings.MAX_SCORING_ATTEMPTS
        )
        given_up.update(
            status=Transaction.Status.FAILED,
            error=f"Not scored after {settings.MAX_SCORING_ATTEMPTS} attempts; see worker logs.",
        )
        retry = list(
            Transaction.objects.filter(id__in=ids, status=Transaction.Status.PENDING).values_list(
                "id", flat=True
            )
        )
        Transaction.objects.filter(id__in=retry).update(
            enqueued_at=timezone.now(), scoring_attempts=F("scoring_attempts") + 1
        )
        transaction.on_commit(lambda: _enqueue(retry))
    logger.warning("Re-enqueued %d stale pending transactions", len(retry))
    return len(retry)
