"""The transactions admin is built for a table of millions of rows (docs/performance.md): its
list reads through indexes, never the whole table, in a constant number of queries.

Measured on 1.2M rows (PostgreSQL): the list 1,726 → ~95 ms, a search 3,284 → ~26 ms, the
risk-level filter 486 → ~33 ms. What these tests pin is what made the difference: exact-id
search (no ``LIKE``/``UPPER``), newest received first by primary key, no date hierarchy (its
MIN/MAX and DISTINCT dates) and no total count, and the channel / country choices read once,
not with a ``SELECT DISTINCT`` per page.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tests.factories import TransactionFactory

pytestmark = pytest.mark.django_db
URL = reverse("admin:scoring_transaction_changelist")


@pytest.fixture
def admin_client(client, make_user):
    client.force_login(make_user("admin"))  # the filters' choices: cleared by tests/conftest.py
    return client


def _listed(response) -> list[str]:
    return [t.external_id for t in response.context["cl"].result_list]


def _queries(client, url: str) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return [q["sql"] for q in captured.captured_queries]


def test_search_is_an_exact_id_through_the_indexes(admin_client):
    TransactionFactory(external_id="ext-1", account_id="acct-A", merchant_id="m-1")
    TransactionFactory(external_id="ext-2", account_id="acct-AB", device_id="dev-9")
    assert _listed(admin_client.get(URL, {"q": "acct-A"})) == ["ext-1"]
    assert _listed(admin_client.get(URL, {"q": "dev-9"})) == ["ext-2"]
    assert _listed(admin_client.get(URL, {"q": "ext-2"})) == ["ext-2"]
    assert _listed(admin_client.get(URL, {"q": "acct"})) == []  # no substring search
    search = [q for q in _queries(admin_client, f"{URL}?q=acct-A") if "acct-A" in q]
    assert search
    assert not [q for q in search if "LIKE" in q.upper() or "UPPER(" in q.upper()], search


def test_newest_received_first_without_a_date_hierarchy_or_a_total_count(admin_client):
    old = TransactionFactory(occurred_at=timezone.now() - timedelta(days=3))
    new = TransactionFactory(occurred_at=timezone.now() - timedelta(days=5))  # received later
    response = admin_client.get(URL)
    assert _listed(response) == [new.external_id, old.external_id]
    sql = _queries(admin_client, URL)
    table = '"scoring_transaction"'
    reads = [q for q in sql if f"FROM {table}" in q]
    assert not [q for q in reads if "MIN(" in q or "MAX(" in q or "DATE_TRUNC" in q.upper()]
    counts = [q for q in reads if "COUNT(" in q.upper()]
    assert len(counts) == 1, counts  # the page's own count, not a second one of the table


def test_occurred_within_filters_by_time(admin_client):
    recent = TransactionFactory(occurred_at=timezone.now() - timedelta(hours=2))
    TransactionFactory(occurred_at=timezone.now() - timedelta(days=10))
    assert _listed(admin_client.get(URL, {"occurred_within": "1d"})) == [recent.external_id]
    assert len(_listed(admin_client.get(URL, {"occurred_within": "30d"}))) == 2
    assert len(_listed(admin_client.get(URL, {"occurred_within": "bogus"}))) == 2


def test_channel_and_country_choices_are_read_once_not_per_page(admin_client):
    TransactionFactory(channel="web", country="US")
    german = TransactionFactory(channel="pos", country="DE")
    TransactionFactory(channel="", country="")
    first = _queries(admin_client, URL)
    assert sum("DISTINCT" in q for q in first) == 2  # channel and country, once
    response = admin_client.get(URL)
    specs = {spec.title: spec for spec in response.context["cl"].filter_specs}
    assert [value for value, _ in specs["channel"].lookup_choices] == ["pos", "web"]
    assert [value for value, _ in specs["country"].lookup_choices] == ["DE", "US"]
    assert not [q for q in _queries(admin_client, URL) if "DISTINCT" in q]
    assert _listed(admin_client.get(URL, {"country": "DE"})) == [german.external_id]
    assert _listed(admin_client.get(URL, {"channel": "pos"})) == [german.external_id]


def test_the_list_costs_the_same_queries_whatever_its_size(admin_client):
    TransactionFactory.create_batch(3)
    admin_client.get(URL)  # the filters' choices
    small = len(_queries(admin_client, URL))
    TransactionFactory.create_batch(40)
    assert len(_queries(admin_client, URL)) == small


def test_the_unfiltered_list_of_a_large_table_shows_the_estimate(admin_client, monkeypatch):
    TransactionFactory.create_batch(3, status="scored")
    monkeypatch.setattr("scoring.admin.transaction_count_estimate", lambda: 2_000_000)
    admin_client.get(URL)  # the filters' choices
    with CaptureQueriesContext(connection) as captured:
        response = admin_client.get(URL)
    assert not [q["sql"] for q in captured.captured_queries if "COUNT(" in q["sql"].upper()]
    assert response.context["cl"].paginator.estimated
    assert "about 2,000,000 transactions" in response.content.decode()
    assert len(_listed(response)) == 3  # the rows themselves are read as ever
    # A filtered list is counted exactly, whatever the estimate.
    filtered = admin_client.get(URL, {"status": "scored"})
    assert not filtered.context["cl"].paginator.estimated
    assert filtered.context["cl"].result_count == 3
    assert "about" not in filtered.content.decode().split('class="paginator"')[1][:200]


def test_a_small_table_or_no_estimate_is_counted_exactly(admin_client, monkeypatch):
    TransactionFactory.create_batch(2)
    for estimate in (None, 99_999):
        monkeypatch.setattr("scoring.admin.transaction_count_estimate", lambda e=estimate: e)
        response = admin_client.get(URL)
        assert not response.context["cl"].paginator.estimated
        assert response.context["cl"].result_count == 2


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_postgresql_estimates_the_rows_from_its_statistics():
    from scoring.selectors import transaction_count_estimate

    TransactionFactory.create_batch(25)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE scoring_transaction")
    assert transaction_count_estimate() == 25


def test_a_filtered_list_is_counted_up_to_a_cap(admin_client, monkeypatch):
    TransactionFactory.create_batch(4, status="scored")
    monkeypatch.setattr("scoring.admin.EstimatedCountPaginator.COUNT_UP_TO", 3)
    response = admin_client.get(URL, {"status": "scored"})
    cl = response.context["cl"]
    assert cl.paginator.capped and cl.result_count == 3
    assert "more than 3 transactions" in response.content.decode()
    monkeypatch.setattr("scoring.admin.EstimatedCountPaginator.COUNT_UP_TO", 4)
    response = admin_client.get(URL, {"status": "scored"})
    assert not response.context["cl"].paginator.capped
    assert response.context["cl"].result_count == 4
