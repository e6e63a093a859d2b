"""The indexes of ``scoring_transaction`` are what ingest and scoring pay for per row.

Scoring changes indexed columns, so every scored row writes a new entry into every index (no
HOT update), and every stored row into every index too (issue 11, migrations 0008 and 0010).
An index added to the table, by hand or by a ``ForeignKey``'s default ``db_index``, must be
added here on purpose, with its reader.
"""

from __future__ import annotations

import pytest
from django.db import connection

from scoring.models import Transaction

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif("connection.vendor != 'postgresql'"),
]

# Index: who reads through it.
EXPECTED = {
    "scoring_transaction_pkey": "primary key",
    "scoring_transaction_external_id_key": "idempotency (unique, ON CONFLICT), client look-ups",
    "scoring_transaction_api_key_id_afef091b": "ApiKey deletion (SET_NULL)",
    "txn_account_history": "the batch's history query (index-only scan)",
    "txn_counterparty_time": "the history query's payments to counterparties (partial)",
    "txn_pending_enqueued": "the sweeper and the pending gauge (partial: pending rows)",
    "txn_challenger": "the challenger comparison (partial: rows with a challenger score)",
    "txn_level_time": "transaction lists by risk level, newest first",
    "txn_merchant": "a case's linked cases by merchant",
    "txn_device": "a case's linked cases by device",
    "txn_occurred_brin": "time-range scans (reporting folds)",
}


def _indexes() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s",
            [Transaction._meta.db_table],
        )
        return dict(cursor.fetchall())


def test_the_table_has_exactly_the_indexes_with_a_reader():
    assert set(_indexes()) == set(EXPECTED)


def test_no_index_on_the_model_version_and_a_partial_one_on_the_challenger():
    indexes = _indexes()
    assert not [d for d in indexes.values() if "(model_version_id)" in d]
    assert not [d for d in indexes.values() if "varchar_pattern_ops" in d]
    assert indexes["txn_challenger"].endswith(
        "(challenger_model_version_id) WHERE (challenger_model_version_id IS NOT NULL)"
    )
