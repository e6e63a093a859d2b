"""Labels for training: the one stored label (its own, else its closed case's disposition)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest

from fraudcases.models import Case, CaseTransaction
from scoring.models import Transaction
from scoring.selectors import history_frame, transactions_frame
from scoring.services.labels import label_provenance, transaction_labels_from_disposition

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def make_txn(n: int, *, is_fraud=None, metadata=None) -> Transaction:
    """A transaction stored as ingestion stores it: an own label (import) keeps its source."""
    return Transaction.objects.create(
        external_id=f"t-{n}",
        account_id="acct-1",
        amount=Decimal("10.00"),
        currency="USD",
        occurred_at=T0 + timedelta(minutes=n),
        metadata=metadata or {},
        source=Transaction.Source.IMPORT,
        is_fraud=is_fraud,
        **label_provenance(is_fraud=is_fraud, source=Transaction.Source.IMPORT, at=T0),
    )


def link(txn: Transaction, *, status: str, disposition: str = "") -> None:
    """Link to a case in ``status``; closing labels through the one label service."""
    case = Case.objects.create(
        account_id=f"acct-case-{txn.pk}", title="test", status=status, disposition=disposition
    )
    CaseTransaction.objects.create(case=case, transaction=txn)
    if status == "closed":
        transaction_labels_from_disposition(transaction_ids=[txn.pk], disposition=disposition)


@pytest.mark.django_db
def test_labels_from_dispositions_of_closed_cases():
    own_fraud = make_txn(1, is_fraud=True)
    own_legit = make_txn(2, is_fraud=False)
    confirmed = make_txn(3)
    legitimate = make_txn(4)
    inconclusive = make_txn(5)
    still_open = make_txn(6)
    unlinked = make_txn(7, metadata={"score": 3})
    overridden = make_txn(8, is_fraud=False)  # its own label wins over the case
    link(confirmed, status="closed", disposition="fraud_confirmed")
    link(legitimate, status="closed", disposition="legitimate")
    link(inconclusive, status="closed", disposition="inconclusive")
    link(still_open, status="in_review")
    link(overridden, status="closed", disposition="fraud_confirmed")

    frame = transactions_frame().set_index("id")
    label = frame["is_fraud"]
    assert label[own_fraud.pk] == 1 and label[own_legit.pk] == 0
    assert label[confirmed.pk] == 1 and label[legitimate.pk] == 0
    assert np.isnan(label[inconclusive.pk]) and np.isnan(label[still_open.pk])
    assert np.isnan(label[unlinked.pk]) and label[overridden.pk] == 0
    assert frame.loc[unlinked.pk, "metadata"] == {"score": 3}
    assert "case_status" not in frame


@pytest.mark.django_db
def test_history_frame_has_metadata_and_no_case_join(django_assert_num_queries):
    make_txn(1, metadata={"score": 1})
    with django_assert_num_queries(1):
        frame = history_frame(account_ids=["acct-1"], start=T0, end=T0 + timedelta(hours=1))
    assert frame["metadata"].tolist() == [{"score": 1}]
