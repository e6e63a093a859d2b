"""The scoring worker's write (``scoring.bulk.update_rows``: one ``UPDATE … FROM`` instead of
``bulk_update``'s ``CASE WHEN`` per column) stores exactly what ``bulk_update`` stored: score,
level, reasons, features, models, for the same batch."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from scoring.models import Rule, Transaction
from scoring.services import scoring
from scoring.services.scoring import transactions_score
from tests.helpers import ingest_recent, load_history, split_history

STORED = (
    "status",
    "risk_score",
    "risk_level",
    "reasons",
    "features",
    "model_version_id",
    "error",
    "challenger_score",
    "challenger_model_version_id",
)


def _results(ids: list[int]) -> dict[int, tuple]:
    rows = Transaction.objects.filter(id__in=ids).values_list("id", *STORED)
    return {row[0]: row[1:] for row in rows}


@pytest.fixture
def pending_recent(db, champion, synthetic_history):
    """Older history stored, and a slice of the recent days (frauds among them) pending."""
    older, recent = split_history(synthetic_history)
    load_history(older)
    frauds = recent[recent["is_fraud"] == 1].head(15)
    ordinary = recent[recent["is_fraud"] == 0].head(25)
    Rule.objects.create(name="large", expression="amount > 400", risk_floor=75, is_active=True)
    return ingest_recent(frauds._append(ordinary).sort_values("occurred_at"))


def _reset(ids: list[int]) -> None:
    Transaction.objects.filter(id__in=ids).update(
        status=Transaction.Status.PENDING,
        risk_score=None,
        risk_level="",
        reasons=[],
        features={},
        model_version=None,
        scored_at=None,
    )


def _bulk_update(updates, written: list[str]) -> None:
    """The ORM's ``bulk_update`` of the same rows (model instances from the scored rows)."""
    fields = [Transaction._meta.get_field(name) for name in written]
    rows = [
        Transaction(id=u.id, **{f.attname: getattr(u, f.attname) for f in fields}) for u in updates
    ]
    Transaction.objects.bulk_update(rows, written, batch_size=1000)


def test_the_set_based_write_stores_what_bulk_update_stored(pending_recent, monkeypatch):
    ids = pending_recent
    written = list(scoring._WRITTEN)
    with monkeypatch.context() as patch:  # the ORM's writer, as before: the reference
        patch.setattr(scoring, "_write_scores", lambda updates: _bulk_update(updates, written))
        assert transactions_score(transaction_ids=ids).scored == len(ids)
    reference = _results(ids)
    _reset(ids)
    with CaptureQueriesContext(connection) as queries:
        assert transactions_score(transaction_ids=ids).scored == len(ids)
    assert _results(ids) == reference
    assert any(r[3] for r in reference.values()), "some rows have reasons"
    assert any(r[3] and r[3][0]["code"] == "rule:large" for r in reference.values())
    assert {r[0] for r in reference.values()} == {Transaction.Status.SCORED}
    # One UPDATE writes the whole batch, with no CASE WHEN per column.
    sql = [q["sql"] for q in queries.captured_queries]
    writes = [s for s in sql if 'UPDATE "scoring_transaction" SET "status" = v."status"' in s]
    assert writes and (connection.vendor != "postgresql" or len(writes) == 1)
    assert not [s for s in sql if "CASE WHEN" in s and not s.startswith("SELECT")]
