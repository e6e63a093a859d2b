"""Read-side queries of the scoring app; frames for the feature pipeline come from here."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import pandas as pd
from django.db.models import Q, QuerySet

from fraudcases.permissions import user_can

from .features import INPUT_COLUMNS, LOOKBACK
from .models import ModelVersion, Transaction

FRAME_FIELDS = [*INPUT_COLUMNS, "is_fraud", "fraud_pattern"]


def _frame(rows: Iterable[dict]) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(list(rows), columns=FRAME_FIELDS)
    if not frame.empty:
        frame["amount"] = frame["amount"].astype(float)
        frame["occurred_at"] = pd.to_datetime(frame["occurred_at"], utc=True)
    return frame


def transactions_frame(*, queryset: QuerySet | None = None) -> pd.DataFrame:
    """All (or the given) transactions as a frame of feature inputs plus labels."""
    qs = queryset if queryset is not None else Transaction.objects.all()
    return _frame(qs.order_by().values(*FRAME_FIELDS).iterator(chunk_size=5000))


def history_frame(
    *,
    account_ids: Iterable[str],
    counterparty_ids: Iterable[str] = (),
    start: datetime,
    end: datetime,
) -> pd.DataFrame:
    """Everything the features of a batch look at, in one query: the accounts' transactions and
    the payments to the batch's counterparties in ``[start - LOOKBACK, end]``."""
    related = Q(account_id__in=list(set(account_ids)))
    counterparties = [c for c in set(counterparty_ids) if c]
    if counterparties:
        related |= Q(counterparty_id__in=counterparties)
    qs = Transaction.objects.filter(
        related, occurred_at__gte=start - LOOKBACK, occurred_at__lte=end
    )
    return transactions_frame(queryset=qs)


def transaction_get_for_client(*, external_id: str) -> Transaction | None:
    """A transaction by external id for an API client (clients may read any result they sent).

    Clients are one trust domain in this deployment; per-client isolation would filter on
    ``api_key`` here.
    """
    return (
        Transaction.objects.select_related("model_version")
        .prefetch_related("case_link")
        .filter(external_id=external_id)
        .first()
    )


def transaction_list_for_user(*, user) -> QuerySet[Transaction]:
    """Transactions a signed-in user may read (fail closed)."""
    if not user_can(user, "transaction.view"):
        return Transaction.objects.none()
    return Transaction.objects.all()


def model_versions_for_user(*, user) -> QuerySet[ModelVersion]:
    if not user_can(user, "model.view"):
        return ModelVersion.objects.none()
    return ModelVersion.objects.all()


def champion_model() -> ModelVersion | None:
    return ModelVersion.objects.filter(role=ModelVersion.Role.CHAMPION).first()


def pending_stale_ids(*, older_than: datetime, limit: int) -> list[int]:
    """Pending transactions never enqueued or enqueued before ``older_than`` (presumed lost)."""
    return list(
        Transaction.objects.filter(status=Transaction.Status.PENDING)
        .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=older_than))
        .order_by("id")
        .values_list("id", flat=True)[:limit]
    )
