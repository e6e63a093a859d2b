"""The queue page and the case page read a constant number of queries, whatever the number of
cases, of a case's transactions, notes and audit events, or of the account's history (issue 11:
"a constant number of queries; assert the count in tests, not the time").

Each page is rendered twice, on a small and on a several times larger world; the number of
queries must be the same (no query per row) and at most the budget below. The budgets are what
the pages take today; a change that adds a query per page raises them on purpose, one that adds a
query per row fails the equality."""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from fraudcases import services
from fraudcases.models import Case, CaseTransaction, Tag
from tests.factories import CaseFactory, TransactionFactory

pytestmark = pytest.mark.django_db

QUEUE_QUERIES = 12
DETAIL_QUERIES = 40


def _queries(client: Client, url: str) -> list[str]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, response.content[:500]
    return [q["sql"] for q in ctx.captured_queries]


def _difference(small: list[str], large: list[str]) -> list[str]:
    """The statements the larger page runs more often (numbers blanked), for the message."""
    shape = lambda sql: re.sub(r"\b\d+\b", "N", sql)[:300]  # noqa: E731
    counts = Counter(map(shape, large))
    counts.subtract(map(shape, small))
    return [f"{n:+d} x {sql}" for sql, n in counts.items() if n]


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _more_cases(n: int, *, transactions: int = 2) -> list[Case]:
    cases = CaseFactory.create_batch(n, transactions=transactions)
    tags = [Tag.objects.get_or_create(name=f"tag-{i}")[0] for i in range(3)]
    for i, case in enumerate(cases):
        case.tags.add(tags[i % 3])
    return cases


def test_the_queue_page_reads_the_same_queries_for_5_and_60_cases(make_user):
    client = _client(make_user("supervisor", "qc-supervisor"))
    _more_cases(5)
    small = _queries(client, "/cases/")
    _more_cases(55, transactions=4)  # more cases than one page (50), more transactions each
    large = _queries(client, "/cases/")
    assert len(small) == len(large), _difference(small, large)
    assert len(large) <= QUEUE_QUERIES, large
    # The live queue (polled) renders the same rows with the same queries.
    live = _queries(client, "/cases/live/")
    assert len(live) <= len(large), live


def _grow(case: Case, *, transactions: int, history: int, notes: int, user) -> None:
    now = timezone.now()
    for i in range(history):  # the account's own history, not on the case
        TransactionFactory(
            account_id=case.account_id, occurred_at=now - timedelta(days=20, minutes=i)
        )
    for i in range(transactions):
        txn = TransactionFactory(account_id=case.account_id, occurred_at=now - timedelta(minutes=i))
        CaseTransaction.objects.create(case=case, transaction=txn)
    for i in range(notes):
        services.case_note_add(case=case, actor=user, body=f"note {i}")


def test_the_case_page_reads_the_same_queries_for_a_small_and_a_large_case(make_user):
    user = make_user("supervisor", "qc-supervisor")
    client = _client(user)
    case = CaseFactory(transactions=2)
    _grow(case, transactions=2, history=3, notes=1, user=user)
    small = _queries(client, f"/cases/{case.pk}/")
    _grow(case, transactions=40, history=60, notes=12, user=user)
    case.refresh_from_db()
    large = _queries(client, f"/cases/{case.pk}/")
    assert len(small) == len(large), _difference(small, large)
    assert len(large) <= DETAIL_QUERIES, large
