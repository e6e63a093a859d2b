"""``scoring.bulk`` writes a handful of rows (at most ``VALUES_ROWS``: the synchronous
``/score``) as one ``VALUES`` statement, and more through ``COPY`` on PostgreSQL. Both store
exactly the same values, skip the same conflicts and refuse the same values."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.db import DataError, IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from scoring import bulk
from scoring.models import Transaction

pytestmark = pytest.mark.django_db

PLUS_TWO = timezone(timedelta(hours=2))
COMPARED = (
    "account_id",
    "amount",
    "occurred_at",
    "latitude",
    "metadata",
    "ip_address",
    "ingest_batch",
    "status",
    "risk_score",
    "reasons",
    "features",
    "is_fraud",
)


def _row(n: int) -> dict:
    return {
        "account_id": f"acct-ü-{n % 3}",
        "amount": [Decimal("12.34"), Decimal("0.01"), Decimal("1E+3")][n % 3],
        "occurred_at": [
            datetime(2026, 5, 1, 12, 0, 0, 123456, tzinfo=UTC),
            datetime(2026, 5, 1, 12, 0, tzinfo=PLUS_TWO),
        ][n % 2],
        "latitude": [48.1, None, -0.0][n % 3],
        "metadata": [{"a": 1, "b": [1, 2.5, "x"]}, {}, {"ü": None}][n % 3],
        "ip_address": ["10.0.0.1", "2001:db8::1", None][n % 3],
        "ingest_batch": [uuid.UUID(int=n + 1), None][n % 2],
        "is_fraud": [True, None][n % 2],
    }


def _with_defaults(columns: dict, constants: dict) -> dict:
    """``constants`` with every other column's default, as the ingest service writes rows."""
    for field in Transaction._meta.concrete_fields:
        if not field.primary_key and field.name not in columns and field.name not in constants:
            constants[field.name] = field.get_default()
    return constants


def _insert(prefix: str, count: int) -> list[tuple]:
    rows = [_row(n) for n in range(count)]
    columns = {name: [r[name] for r in rows] for name in rows[0]}
    columns["external_id"] = [f"{prefix}-{n}" for n in range(count)]
    return bulk.insert_ignoring_conflicts(
        model=Transaction,
        columns=columns,
        constants=_with_defaults(
            columns, {"currency": "EUR", "status": "pending", "created_at": datetime.now(UTC)}
        ),
        conflict="external_id",
        returning=("id", "external_id"),
    )


def _stored(prefix: str) -> list[tuple]:
    return list(
        Transaction.objects.filter(external_id__startswith=f"{prefix}-")
        .order_by("id")
        .values_list(*COMPARED)
    )


def test_a_few_rows_and_many_rows_store_the_same_values():
    few = bulk.VALUES_ROWS - 1
    with CaptureQueriesContext(connection) as ctx:
        stored = _insert("few", few)
    assert [e for _, e in stored] == [f"few-{n}" for n in range(few)]
    if connection.vendor == "postgresql":
        assert len(ctx.captured_queries) == 1, [q["sql"][:80] for q in ctx.captured_queries]
    _insert("many", bulk.VALUES_ROWS * 3)
    assert _stored("few") == _stored("many")[:few]
    # A re-sent row is skipped and not returned, on either path.
    assert _insert("few", few + 1) == [
        (Transaction.objects.order_by("-id").values_list("id", flat=True)[0], f"few-{few}")
    ]


def test_a_few_rows_and_many_rows_update_the_same_values():
    _insert("u", bulk.VALUES_ROWS * 3)
    ids = list(Transaction.objects.order_by("id").values_list("id", flat=True))
    values = {
        "status": ["scored"] * len(ids),
        "risk_score": [float(n) + 0.25 for n in range(len(ids))],
        "reasons": [[{"code": "x", "detail": f"ü {n}", "weight": 1.5}] for n in range(len(ids))],
        "features": [{"f": None, "g": n / 3} for n in range(len(ids))],
        "scored_at": [datetime(2026, 5, 2, tzinfo=PLUS_TWO)] * len(ids),
    }
    few = 2
    assert (
        bulk.update_rows(
            model=Transaction, pks=ids[:few], columns={k: v[:few] for k, v in values.items()}
        )
        == few
    )
    assert (
        bulk.update_rows(
            model=Transaction, pks=ids[few:], columns={k: v[few:] for k, v in values.items()}
        )
        == len(ids) - few
    )
    rows = Transaction.objects.order_by("id").values_list("status", "risk_score", "reasons")
    assert list(rows) == [
        ("scored", values["risk_score"][n], values["reasons"][n]) for n in range(len(ids))
    ]
    again = Transaction.objects.order_by("id").values_list("features", "scored_at")
    assert [f for f, _ in again] == [{"f": None, "g": n / 3} for n in range(len(ids))]
    assert {at for _, at in again} == {datetime(2026, 5, 2, tzinfo=PLUS_TWO)}


@pytest.mark.parametrize("count", [1, bulk.VALUES_ROWS + 1])
def test_a_refused_value_raises_on_either_path(count):
    rows = {"external_id": [f"bad-{n}" for n in range(count)], "account_id": ["a"] * count}
    rows["amount"] = [Decimal("-1")] * count  # the table's CHECK (amount > 0)
    rows["occurred_at"] = [datetime(2026, 5, 1, tzinfo=UTC)] * count
    with pytest.raises((IntegrityError, DataError)), transaction.atomic():
        bulk.insert_ignoring_conflicts(
            model=Transaction,
            columns=rows,
            constants=_with_defaults(rows, {"status": "pending", "created_at": datetime.now(UTC)}),
            conflict="external_id",
            returning=("id",),
        )
    assert not Transaction.objects.exists()
