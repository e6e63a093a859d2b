"""Ingestion: validate (``scoring.schema``), store in one bulk insert, score asynchronously.

Every way in calls :func:`transactions_submit`: the API, the stream consumers, the CSV importer
and the generator (the last two through :func:`transactions_store` with items they validated
in chunks, since they report and skip bad lines instead of refusing the whole file).
"""

from __future__ import annotations

import copy
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import DataError, IntegrityError, transaction
from django.utils import timezone

from fraudcases import metrics

from ..models import ApiKey, Transaction
from ..schema import BatchValidationError, validate_transactions
from .health import champion_file_check
from .labels import label_provenance

logger = logging.getLogger(__name__)
MODES = ("async", "sync", "history")


@dataclass
class IngestResult:
    """``accepted`` new rows (their ids) and ``duplicates`` already known by external id;
    ``external_ids`` of all the items, in order, as stored."""

    accepted: int
    duplicates: int
    ids: list[int]
    external_ids: list[str]


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


def transactions_submit(
    *,
    items: list[object],
    source: str,
    api_key: ApiKey | None = None,
    mode: str = "async",
) -> IngestResult:
    """Validate a batch as sent (JSON-shaped items) and store it; idempotent on ``external_id``.

    Any invalid item raises :class:`~scoring.schema.BatchValidationError` (errors by item index
    and field) and nothing is stored. ``mode`` as for :func:`transactions_store` (which holds the
    one database transaction; validation touches no database).
    """
    return transactions_store(
        items=validate_transactions(items), source=source, api_key=api_key, mode=mode
    )


def _refusal(row: Transaction) -> str | None:
    """Why the database refuses ``row`` on its own, or None when it is a duplicate (or stores
    it alone). A trial insert in a savepoint that is always rolled back."""
    try:
        with transaction.atomic():
            Transaction.objects.bulk_create([copy.copy(row)])
            raise _RollBack
    except _RollBack:
        return None
    except (DataError, IntegrityError) as exc:
        other = Transaction.objects.filter(external_id=row.external_id).exclude(
            ingest_batch=row.ingest_batch
        )
        if other.exists():
            return None
        return f"The database refused this transaction: {str(exc).splitlines()[0][:200]}"


class _RollBack(Exception):
    """Ends a trial insert by rolling its savepoint back."""


def _refused_items(rows: list[Transaction], indexes: list[int]) -> dict[str, dict[str, list]]:
    errors = {}
    for index in indexes:
        reason = _refusal(rows[index])
        if reason is not None:
            errors[str(index)] = {"non_field_errors": [reason]}
    return errors


def transactions_store(
    *,
    items: list[dict[str, Any]],
    source: str,
    api_key: ApiKey | None = None,
    mode: str = "async",
) -> IngestResult:
    """Store validated transaction dicts (from :mod:`scoring.schema`, optionally with the
    ``is_fraud`` / ``fraud_pattern`` labels of history); idempotent on ``external_id``.

    One bulk insert that skips conflicts on the unique external id, so a re-posted (or
    concurrently posted) item is stored once. The result is read back from the database: the
    rows stamped with this call's batch id were accepted, items whose external id another batch
    holds are duplicates, and any other item the database did not store (e.g. a CHECK that
    SQLite's ``INSERT OR IGNORE`` skips silently, or a value PostgreSQL refuses) is an error for
    that item: the whole call is rolled back with :class:`~scoring.schema.BatchValidationError`,
    never counted as a duplicate.

    ``mode``: ``async`` stores them pending and enqueues scoring after commit; ``sync`` stores them
    pending for the caller to score now (the sweeper retries if that fails); ``history`` stores
    them as imported history that is not scored live.
    """
    if mode not in MODES:
        raise ValueError(f"Unknown ingest mode {mode!r}")
    batch_id = uuid.uuid4()
    now = timezone.now()
    status = Transaction.Status.IMPORTED if mode == "history" else Transaction.Status.PENDING
    rows = [
        Transaction(
            **item,
            **label_provenance(is_fraud=item.get("is_fraud"), source=source, at=now),
            source=source,
            api_key=api_key,
            ingest_batch=batch_id,
            status=status,
            enqueued_at=None if mode == "history" else now,
        )
        for item in items
    ]
    try:
        ids = _insert(rows=rows, batch_id=batch_id, enqueue=mode == "async")
    except (DataError, IntegrityError):
        # Something the validator let through and the database refuses: name the items.
        errors = _refused_items(rows, list(range(len(rows))))
        if not errors:
            raise
        raise _refused(errors, len(items)) from None
    metrics.transactions_ingested(
        source=str(source), accepted=len(ids), duplicates=len(items) - len(ids)
    )
    return IngestResult(
        accepted=len(ids),
        duplicates=len(items) - len(ids),
        ids=ids,
        external_ids=[row.external_id for row in rows],
    )


@transaction.atomic
def _insert(*, rows: list[Transaction], batch_id: uuid.UUID, enqueue: bool) -> list[int]:
    """The one bulk insert, and the ids it stored; raises for items stored for no reason."""
    Transaction.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
    stored = dict(
        Transaction.objects.filter(ingest_batch=batch_id).values_list("external_id", "id")
    )
    if len(stored) < len(rows):
        missing = [i for i, row in enumerate(rows) if row.external_id not in stored]
        known = set(
            Transaction.objects.filter(external_id__in=[rows[i].external_id for i in missing])
            .exclude(ingest_batch=batch_id)
            .values_list("external_id", flat=True)
        )
        lost = [i for i in missing if rows[i].external_id not in known]
        if lost:
            errors = _refused_items(rows, lost) or {
                str(i): {"non_field_errors": ["The database did not store this transaction."]}
                for i in lost
            }
            raise _refused(errors, len(rows))
    ids = sorted(stored.values())
    if enqueue and ids:
        transaction.on_commit(lambda: _enqueue(ids))
    return ids


def _refused(errors: dict, total: int) -> BatchValidationError:
    return BatchValidationError(
        f"{len(errors)} of {total} transactions were refused by the database; nothing was stored.",
        errors,
    )


def _champion_problem() -> str:
    """Why nothing can be scored right now ("" when the champion's file is there and intact).
    The same check as ``/healthz``; it reads the file's hash, never loads the model."""
    check = champion_file_check()
    return "" if check["ok"] else check["detail"]


def transactions_requeue_stale(*, limit: int = 50_000) -> int:
    """Re-enqueue pending transactions whose scoring task was presumably lost.

    A row is retried a bounded number of times, then marked ``failed`` with the reason.
    """
    from django.db.models import F

    from ..selectors import pending_stale_ids

    problem = _champion_problem()
    if problem:
        # Retrying cannot help and would use up the rows' attempts: they stay pending until a
        # usable champion is back (the health check and metrics show the reason).
        logger.warning("Stale pending transactions not re-enqueued: %s", problem)
        return 0
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
        metrics.transactions_failed(sources=given_up.values_list("source", flat=True))
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
