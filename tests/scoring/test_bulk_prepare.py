"""``scoring.bulk._generic_values``: on SQLite (any backend but PostgreSQL) the set-based
writes prepare values column by column; each column must be exactly what the field's own
``get_db_prep_save`` gives, value by value, whatever the values."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pandas as pd
import pytest
from django.db.utils import ConnectionHandler

from scoring import bulk
from scoring.models import Transaction


@pytest.fixture
def sqlite(monkeypatch):
    """A SQLite connection (never opened: preparing values needs no database) put where
    ``scoring.bulk`` looks, so this runs whatever database the suite runs on."""
    handler = ConnectionHandler(
        {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
    )
    wrapper = handler["default"]
    monkeypatch.setattr(bulk, "connection", wrapper)
    return wrapper


PLUS_TWO = timezone(timedelta(hours=2))
SAMPLES = {
    "external_id": ["a", "", "ü-ß", None],
    "amount": [Decimal("12.34"), Decimal("0.01"), Decimal("1E+3"), 5, 2.5, "7.10", None],
    "occurred_at": [
        datetime(2026, 5, 1, 12, 0, 0, 123456, tzinfo=UTC),
        datetime(2026, 5, 1, 12, 0, tzinfo=PLUS_TWO),
        datetime(1700, 1, 1, tzinfo=UTC),
        pd.Timestamp("2026-05-01T12:00:00.5Z"),
        None,
    ],
    "latitude": [48.1, -0.0, 3, None],
    "is_fraud": [True, False, None],
    "risk_score": [12.5, 100.0, None],
    "scoring_attempts": [0, 3, True],
    "metadata": [{"a": 1, "b": [1, 2.5, "x"]}, {}, [1, 2], {"ü": None}],
    "features": [{"f": None, "g": 1.25}, None],
    "ingest_batch": [uuid.uuid4(), None, str(uuid.uuid4())],
    "ip_address": ["10.0.0.1", "2001:db8::1", "", None],
    "reasons": [[{"code": "x", "detail": "y", "weight": 1.5}], []],
    "error": ["", "Could not be scored: …"],
    "api_key": [1, None],
    "id": [1, 2**40],
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_each_column_is_what_the_field_prepares(name, sqlite):
    field = Transaction._meta.get_field(name)
    values = SAMPLES[name]
    expected = [field.get_db_prep_save(v, sqlite) for v in values]
    assert bulk._generic_values(field, values) == expected
    for v in values:  # and one type at a time (the fast paths take whole columns of one type)
        assert bulk._generic_values(field, [v]) == [field.get_db_prep_save(v, sqlite)]


def test_every_kind_of_transaction_column_is_sampled():
    """Each internal type of the table's columns is among the sampled fields above."""
    sampled = {Transaction._meta.get_field(n).get_internal_type() for n in SAMPLES}
    kinds = {f.get_internal_type() for f in Transaction._meta.concrete_fields}
    assert kinds <= sampled, kinds - sampled


def test_primary_keys_as_copy_writes_them():
    """PostgreSQL's COPY path (``bulk._pg_values``) takes a column of int keys as it is, and
    prepares anything else through the field (``"7"`` becomes 7, as the field would)."""
    pk = Transaction._meta.pk
    keys = [1, 2**40, 3]
    assert bulk._pg_values(pk, keys) is keys
    assert bulk._pg_values(pk, [1, "7"]) == [1, 7]
