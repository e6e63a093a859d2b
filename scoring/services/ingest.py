"""Ingestion: validate (``scoring.schema``), store in one multi-row insert, score asynchronously.

Every way in calls :func:`transactions_submit`: the API, the stream consumers, the CSV importer
and the generator (the last two through :func:`transactions_store` with items they validated
in chunks, since they report and skip bad lines instead of refusing the whole file).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import DataError, IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from core import metrics

from ..bulk import insert_ignoring_conflicts
from ..models import ApiKey, Transaction
from ..queueing import score_batch_enqueue
from ..schema import BatchValidationError, validate_transactions
from ..selectors import pending_stale_ids
from .health import champion_file_check
from .labels import label_provenance

logger = logging.getLogger(__name__)
MODES = ("async", "sync", "scored", "history")


@dataclass
class IngestResult:
    """``accepted`` new rows (their ids) and ``duplicates`` already known by external id."""

    accepted: int
    duplicates: int
    ids: list[int]


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


_STATUS_OF_MODE = {"history": Transaction.Status.IMPORTED, "scored": Transaction.Status.SCORED}


@dataclass(frozen=True)
class _Stamp:
    """What every row of one call gets besides its item: where it came from, its batch id and
    its status."""

    source: str
    api_key: ApiKey | None
    batch_id: uuid.UUID
    status: str
    now: datetime
    enqueued_at: datetime | None

    def constants(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "api_key": self.api_key.pk if self.api_key is not None else None,
            "ingest_batch": self.batch_id,
            "status": self.status,
            "enqueued_at": self.enqueued_at,
            "created_at": self.now,
        }


# Model fields an item may set (the validator's fields, the history labels, a scored row's
# results); the rest of the row is the call's stamp and the fields' own defaults.
_ITEM_FIELDS = frozenset(
    f.name
    for f in Transaction._meta.concrete_fields
    if not f.primary_key
    and f.name not in {"source", "api_key", "ingest_batch", "status", "enqueued_at", "created_at"}
)


def _insert_rows(*, items: list[dict[str, Any]], stamp: _Stamp) -> list[tuple[int, str]]:
    """One multi-row insert that skips items whose ``external_id`` is taken; returns ``(id,
    external_id)`` of the rows it stored. Any other refusal raises ``DataError`` /
    ``IntegrityError``."""
    first = items[0].keys()
    alike = all(item.keys() == first for item in items)  # the validator's items are all alike
    names = set(first) if alike else set(first).union(*(item.keys() for item in items))
    unknown = names - _ITEM_FIELDS
    if unknown:
        raise TypeError(f"Not transaction fields: {sorted(unknown)}")
    columns: dict[str, list[Any]] = {}
    for name in sorted(names - {"label_source", "labelled_at"}):  # those two: from the label
        if alike:
            columns[name] = list(map(itemgetter(name), items))
        else:
            default = Transaction._meta.get_field(name).get_default
            columns[name] = [item[name] if name in item else default() for item in items]
    labels = columns.get("is_fraud", [None] * len(items))
    provenance = {  # a label is True, False or None: one answer each
        label: label_provenance(is_fraud=label, source=stamp.source, at=stamp.now)
        for label in set(labels)
    }
    columns["label_source"] = [provenance[label]["label_source"] for label in labels]
    columns["labelled_at"] = [provenance[label]["labelled_at"] for label in labels]
    constants = stamp.constants()
    for field in Transaction._meta.concrete_fields:  # defaults, so every column is explicit
        if not field.primary_key and field.name not in columns and field.name not in constants:
            constants[field.name] = field.get_default()
    return insert_ignoring_conflicts(
        model=Transaction,
        columns=columns,
        constants=constants,
        conflict="external_id",
        returning=("id", "external_id"),
    )


def _refusal(item: dict[str, Any], stamp: _Stamp) -> str | None:
    """Why the database refuses ``item`` on its own, or None when it stores it (or it is a
    duplicate). A trial insert in a savepoint that is always rolled back."""
    try:
        with transaction.atomic():
            _insert_rows(items=[item], stamp=stamp)
            raise _RollBack
    except _RollBack:
        return None
    except (DataError, IntegrityError) as exc:
        return f"The database refused this transaction: {str(exc).splitlines()[0][:200]}"


class _RollBack(Exception):
    """Ends a trial insert by rolling its savepoint back."""


def _refused_items(
    items: list[dict[str, Any]], indexes: list[int], stamp: _Stamp
) -> dict[str, dict[str, list]]:
    errors = {}
    for index in indexes:
        reason = _refusal(items[index], stamp)
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

    One multi-row insert that skips conflicts on the unique external id and returns the rows it
    stored (``INSERT … ON CONFLICT (external_id) DO NOTHING RETURNING id, external_id``; on
    PostgreSQL fed by ``COPY``, see :mod:`scoring.bulk`), so a re-posted (or concurrently posted)
    item is stored once. The result is what the database says: the returned rows were accepted,
    items whose external id another row holds are duplicates (checked in the database), and any
    other item the database did not store is an error for that item: the whole call is rolled
    back with :class:`~scoring.schema.BatchValidationError`, never counted as a duplicate. A
    value the database refuses (a CHECK, a length) raises on SQLite as on PostgreSQL, and each
    refused item is named by a trial insert of its own.

    ``mode``: ``async`` stores them pending and enqueues scoring after commit; ``sync`` stores them
    pending for the caller to score now (the sweeper retries if that fails); ``scored`` stores
    them already scored (the items carry their scoring fields: the synchronous ``/score``, which
    scores before it stores); ``history`` stores them as imported history that is not scored
    live.
    """
    if mode not in MODES:
        raise ValueError(f"Unknown ingest mode {mode!r}")
    now = timezone.now()
    stamp = _Stamp(
        source=str(source),
        api_key=api_key,
        batch_id=uuid.uuid4(),
        status=_STATUS_OF_MODE.get(mode, Transaction.Status.PENDING),
        now=now,
        enqueued_at=None if mode == "history" else now,
    )
    try:
        ids = _insert(items=items, stamp=stamp, enqueue=mode == "async")
    except (DataError, IntegrityError):
        # Something the validator let through and the database refuses: name the items.
        errors = _refused_items(items, list(range(len(items))), stamp)
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
    )


@transaction.atomic
def _insert(*, items: list[dict[str, Any]], stamp: _Stamp, enqueue: bool) -> list[int]:
    """The one insert, and the ids it stored; raises for items stored for no reason."""
    if not items:
        return []
    stored = dict((external_id, pk) for pk, external_id in _insert_rows(items=items, stamp=stamp))
    if len(stored) < len(items):
        missing = [i for i, item in enumerate(items) if item["external_id"] not in stored]
        known = set(
            Transaction.objects.filter(external_id__in=[items[i]["external_id"] for i in missing])
            .exclude(ingest_batch=stamp.batch_id)
            .values_list("external_id", flat=True)
        )
        lost = [i for i in missing if items[i]["external_id"] not in known]
        if lost:
            errors = _refused_items(items, lost, stamp) or {
                str(i): {"non_field_errors": ["The database did not store this transaction."]}
                for i in lost
            }
            raise _refused(errors, len(items))
    ids = sorted(stored.values())
    if enqueue and ids:
        transaction.on_commit(lambda: score_batch_enqueue(ids))
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


def scoring_backlog() -> int | None:
    """Messages waiting in the scoring queue (not yet taken by a worker), or None when the
    broker cannot say."""
    try:
        with current_app.connection_for_read() as conn:
            declared = conn.default_channel.queue_declare(
                queue=current_app.conf.task_default_queue, passive=False
            )
    except Exception:  # any broker failure: unknown
        logger.warning("Could not read the scoring queue's depth", exc_info=True)
        return None
    return int(declared.message_count)


def beat_slack() -> int:
    """How many messages in the scoring queue still count as "drained": the periodic tasks
    share the queue, and one beat tick can put one message per entry there next to this sweep
    (the sweep would otherwise find the queue never empty at the ticks it shares with them,
    and never re-send a lost batch). A backlog of scoring batches is far deeper than that."""
    return len(current_app.conf.beat_schedule or {})


def transactions_requeue_stale(*, limit: int = 50_000) -> int:
    """Re-enqueue pending transactions whose scoring task was presumably lost.

    A row is retried a bounded number of times, then marked ``failed`` with the reason.

    Only while the scoring queue is drained (empty but for what one beat tick puts next to
    this sweep, :func:`beat_slack`): a row still pending behind a long backlog (the
    benchmark's 200,000 rows take minutes) has not lost its task, it is waiting for it, and
    re-enqueueing it would count an attempt it never had (five sweeps, and it would be marked
    failed unscored) and queue it twice. When the queue holds messages, or the broker cannot
    say, nothing is counted or sent; a message that was really lost is re-sent once the
    backlog has drained.
    """
    problem = _champion_problem()
    if problem:
        # Retrying cannot help and would use up the rows' attempts: they stay pending until a
        # usable champion is back (the health check and metrics show the reason).
        logger.warning("Stale pending transactions not re-enqueued: %s", problem)
        return 0
    backlog = scoring_backlog()
    if backlog is None or backlog > beat_slack():
        logger.info(
            "Stale pending transactions not re-enqueued: the scoring queue holds %s messages",
            "an unknown number of" if backlog is None else backlog,
        )
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
        transaction.on_commit(lambda: score_batch_enqueue(retry))
    logger.warning("Re-enqueued %d stale pending transactions", len(retry))
    return len(retry)
