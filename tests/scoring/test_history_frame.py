"""The batch's history query (``selectors.history_frame``): exactly the rows the features read,
each once, with the values as stored; one query. Runs on SQLite and on PostgreSQL (CI), where
it is a ``UNION ALL`` of the accounts' rows and other accounts' payments to the counterparties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pandas as pd
import pytest
from django.db import connection

from scoring import selectors
from scoring.engine.features import INPUT_COLUMNS, LOOKBACK
from scoring.models import HISTORY_INCLUDED, Transaction
from scoring.selectors import history_frame

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
pytestmark = pytest.mark.django_db


def txn(name: str, *, account: str, minutes: float, counterparty: str = "", **kw) -> Transaction:
    return Transaction.objects.create(
        external_id=name,
        account_id=account,
        amount=Decimal(kw.pop("amount", "12.34")),
        currency="EUR",
        occurred_at=T0 + timedelta(minutes=minutes),
        counterparty_id=counterparty,
        metadata={"n": name},
        **kw,
    )


def test_the_accounts_rows_and_other_accounts_payments_to_the_counterparties_once_each(
    django_assert_num_queries,
):
    own = txn("own", account="a", minutes=0, merchant_id="m1", latitude=48.1, longitude=11.5)
    own_to_cp = txn("own-to-cp", account="a", minutes=-60, counterparty="cp")  # matches twice
    other_to_cp = txn("other-to-cp", account="b", minutes=-30, counterparty="cp")
    oldest_kept = txn("oldest", account="a", minutes=-LOOKBACK.total_seconds() / 60)
    txn("too-old", account="a", minutes=-LOOKBACK.total_seconds() / 60 - 1)
    txn("too-old-cp", account="b", minutes=-LOOKBACK.total_seconds() / 60 - 1, counterparty="cp")
    txn("after-the-batch", account="a", minutes=1)
    txn("other-account", account="c", minutes=0)
    txn("other-counterparty", account="b", minutes=0, counterparty="cp2")
    txn("no-counterparty", account="b", minutes=0)

    with django_assert_num_queries(1):
        frame = history_frame(account_ids=["a"], counterparty_ids=["cp", ""], start=T0, end=T0)
    assert sorted(frame["id"]) == sorted(t.pk for t in (own, own_to_cp, other_to_cp, oldest_kept))
    assert frame.columns.tolist() == [*INPUT_COLUMNS, "metadata"]
    row = frame.set_index("id").loc[own.pk]
    assert row["amount"] == 12.34 and row["occurred_at"] == pd.Timestamp(T0)
    assert (row["merchant_id"], row["latitude"], row["longitude"]) == ("m1", 48.1, 11.5)
    assert row["metadata"] == {"n": "own"}
    assert str(frame["occurred_at"].dtype) in ("datetime64[ns, UTC]", "datetime64[us, UTC]")


def test_without_counterparties_or_metadata_and_with_nothing_to_read():
    txn("own", account="a", minutes=0, counterparty="cp")
    frame = history_frame(account_ids=["a"], start=T0, end=T0, metadata=False)
    assert len(frame) == 1
    assert frame.columns.tolist() == INPUT_COLUMNS
    empty = history_frame(account_ids=["nobody"], counterparty_ids=["nothing"], start=T0, end=T0)
    assert empty.empty and empty.columns.tolist() == [*INPUT_COLUMNS, "metadata"]


def test_the_history_index_covers_every_column_the_features_read():
    """A column the features read and the index lacks would send PostgreSQL back to the heap
    for every row (docs/performance.md)."""
    index = next(i for i in Transaction._meta.indexes if i.name == "txn_account_history")
    assert list(index.fields) == ["account_id", "occurred_at"]
    assert set(index.include) == set(HISTORY_INCLUDED)
    assert set(INPUT_COLUMNS) == {*index.fields, *index.include}


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_postgresql_vacuums_the_table_often_enough_for_index_only_scans():
    """Scored rows clear their pages' all-visible mark; autovacuum after 2 % of the table
    (migration scoring.0009) restores it long before PostgreSQL's default 20 %."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = 'scoring_transaction'")
        options = set(cursor.fetchone()[0] or [])
    assert {
        "autovacuum_vacuum_scale_factor=0.02",
        "autovacuum_vacuum_insert_scale_factor=0.02",
    } <= options


@pytest.mark.parametrize("count", [0, 1, 3, 40])
def test_the_history_frame_is_the_same_built_by_column_or_from_records(count, monkeypatch):
    """PostgreSQL reads: a few rows are put in a frame column by column, many from records;
    the same frame either way (values, order, every column's type), none or some coordinates."""
    plain = [c for c in INPUT_COLUMNS if c not in ("amount", "occurred_at")] + ["metadata"]
    columns = [*INPUT_COLUMNS, "metadata"]
    rows = []
    for n in range(count):
        values = {c: f"{c}-{n % 3}" for c in plain}
        values |= {"id": n + 1, "metadata": {"k": n} if n % 2 else {}}
        values |= {"latitude": None if count < 3 or n % 3 == 0 else 48.0 + n, "longitude": None}
        micros = 1_777_000_000_000_000 + n * 1_234_567
        rows.append((*(values[c] for c in plain), 12.5 + n, micros))
    frames = []
    for limit in (10**9, -1):  # every read by column, then every read from records
        monkeypatch.setattr(selectors, "_BY_COLUMN_ROWS", limit)
        frames.append(selectors._binary_history(rows, plain, columns))
    by_column, from_records = frames
    assert list(by_column.columns) == columns
    assert list(by_column.dtypes) == list(from_records.dtypes)
    pd.testing.assert_frame_equal(by_column, from_records, check_exact=True)


@pytest.mark.parametrize("with_history", [True, False])
def test_a_row_not_stored_yet_comes_last_in_the_types_of_a_stored_one(with_history):
    """``/score`` scores a transaction before it inserts it: the frame it scores holds the row
    as the history query gives it back once stored (here: stored afterwards and read again)."""
    if with_history:
        txn("earlier", account="a", minutes=-5, merchant_id="m0")
    values = {
        "account_id": "a",
        "amount": Decimal("19.99"),
        "occurred_at": datetime(2026, 5, 1, 14, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2))),
        "merchant_id": "m1",
        "merchant_category": "grocery",
        "channel": "pos",
        "country": "DE",
        "latitude": 48.1,
        "longitude": None,
        "device_id": "",
        "counterparty_id": "",
        "metadata": {"k": 1},
    }
    unstored = {**values, "external_id": "new", "currency": "EUR", "id": 2**62}
    end = T0 + timedelta(hours=1)
    frame = history_frame(account_ids=["a"], start=T0, end=end, unstored=unstored)
    stored = Transaction.objects.create(external_id="new", currency="EUR", **values)
    again = history_frame(account_ids=["a"], start=T0, end=end)
    last, as_stored = frame.iloc[-1], again.set_index("id").loc[stored.pk]
    assert last["id"] == 2**62 and len(frame) == (2 if with_history else 1)
    for column in [c for c in (*INPUT_COLUMNS, "metadata") if c != "id"]:
        mine, theirs = last[column], as_stored[column]
        assert (pd.isna(mine) and pd.isna(theirs)) or mine == theirs, column
    assert frame.dtypes.equals(again.dtypes)
