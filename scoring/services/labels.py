"""Training labels, defined once.

A transaction's label (``Transaction.is_fraud``) is written at the moment it is decided, with
where it came from (``label_source``) and when (``labelled_at``), only through this module:

- the generator and a CSV import's label column label rows as they are stored
  (:func:`label_provenance` gives ingestion the source and time for its bulk insert);
- closing a case (or approving its closure) as ``fraud_confirmed`` / ``legitimate`` labels the
  case's transactions; ``inconclusive`` labels nothing and clears an earlier disposition label;
- reopening a case clears its disposition labels (the case services audit how many).

A disposition never overrides a label that came with the data (generator, import): those rows
are history, and their label is the source of truth for them. Training, evaluation, live
precision and the rule preview all read ``is_fraud`` and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from ..models import LabelSource, Transaction

# Investigators' decisions as labels; ``inconclusive`` decides nothing.
DISPOSITION_LABELS: dict[str, bool | None] = {
    "fraud_confirmed": True,
    "legitimate": False,
    "inconclusive": None,
}
# The label source of rows stored with a label, by ``Transaction.Source``.
_INGEST_SOURCES = {
    Transaction.Source.SYNTHETIC: LabelSource.GENERATOR,
    Transaction.Source.IMPORT: LabelSource.IMPORT,
}


def label_provenance(*, is_fraud: bool | None, source: str, at: datetime) -> dict:
    """``label_source`` and ``labelled_at`` of a row that ingestion stores from ``source`` (a
    ``Transaction.Source``) with the label ``is_fraud`` (or none): for the bulk insert, which
    cannot call a service per row."""
    if is_fraud is None:
        return {"label_source": "", "labelled_at": None}
    return {"label_source": _INGEST_SOURCES.get(source, LabelSource.IMPORT), "labelled_at": at}


@transaction.atomic
def transaction_labels_set(
    *,
    transaction_ids: Iterable[int],
    label: bool | None,
    source: str,
    at: datetime | None = None,
) -> int:
    """Set ``label`` (``None`` clears it) from ``source`` on the given transactions.

    With ``source=disposition`` only rows without a label or with an earlier disposition label
    change (labels that came with the data stay). Returns how many rows changed.
    """
    if source not in LabelSource.values:
        raise ValueError(f"Unknown label source {source!r}")
    ids = list(transaction_ids)
    if not ids:
        return 0
    rows = Transaction.objects.filter(pk__in=ids)
    if source == LabelSource.DISPOSITION:
        rows = rows.filter(label_source__in=("", LabelSource.DISPOSITION))
    if label is None:
        return rows.filter(label_source=source).update(
            is_fraud=None, label_source="", labelled_at=None
        )
    return rows.exclude(is_fraud=label, label_source=source).update(
        is_fraud=label, label_source=source, labelled_at=at or timezone.now()
    )


@transaction.atomic
def transaction_labels_from_disposition(*, transaction_ids: Iterable[int], disposition: str) -> int:
    """Label a closed case's transactions from its disposition (``inconclusive`` and an empty
    disposition clear an earlier disposition label). Returns how many rows changed."""
    return transaction_labels_set(
        transaction_ids=transaction_ids,
        label=DISPOSITION_LABELS.get(disposition),
        source=LabelSource.DISPOSITION,
    )
