"""``scoring.bulk.AnyOf``: the rows of ``IN (values)``, with the values sent as one array on
PostgreSQL (the batch's lock and history queries, issue 11). Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from scoring.bulk import AnyOf, fetch_rows_binary
from scoring.models import Transaction

pytestmark = pytest.mark.django_db


@pytest.fixture
def stored() -> list[Transaction]:
    return [
        Transaction.objects.create(
            external_id=f"any-{n}",
            account_id=f"acct-{n % 3}",
            amount=Decimal("10.00"),
            currency="EUR",
            occurred_at=datetime(2026, 5, 1, 12, n, tzinfo=UTC),
        )
        for n in range(6)
    ]


def _ids(qs) -> list[int]:
    return sorted(qs.values_list("id", flat=True))


@pytest.mark.parametrize("accounts", [["acct-0"], ["acct-1", "acct-2", "nobody"], ["nobody"]])
def test_the_same_rows_as_in(stored, accounts):
    expected = _ids(Transaction.objects.filter(account_id__in=accounts))
    assert _ids(Transaction.objects.filter(AnyOf(F("account_id"), accounts))) == expected
    assert _ids(Transaction.objects.exclude(AnyOf(F("account_id"), accounts))) == _ids(
        Transaction.objects.exclude(account_id__in=accounts)
    )
    ids = [t.id for t in stored[::2]]
    assert _ids(Transaction.objects.filter(AnyOf(F("id"), ids))) == sorted(ids)


def test_nothing_to_match_is_no_rows_without_a_query(stored):
    qs = Transaction.objects.filter(AnyOf(F("account_id"), [])).values_list("id")
    with CaptureQueriesContext(connection) as queries:
        assert list(qs) == [] and fetch_rows_binary(qs) == []
    assert len(queries) == 0


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_postgresql_gets_one_parameter_for_all_the_values(stored):
    accounts = [f"acct-{n}" for n in range(500)]
    qs = Transaction.objects.filter(AnyOf(F("account_id"), accounts))
    sql, params = qs.query.sql_with_params()
    assert '"account_id" = ANY(%s::varchar[])' in sql
    assert list(params) == [accounts]
    assert len(fetch_rows_binary(qs.values_list("id"))) == len(stored)


def test_a_subquery_on_the_right_is_plain_in(stored):
    accounts = Transaction.objects.filter(external_id="any-1").values("account_id")
    assert _ids(Transaction.objects.filter(AnyOf(F("account_id"), accounts))) == _ids(
        Transaction.objects.filter(account_id="acct-1")
    )
