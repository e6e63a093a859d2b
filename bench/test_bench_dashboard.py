"""Dashboard performance (``make bench``): the page with 1M transactions and 100k cases.

Sizes: ``BENCH_DASHBOARD_TRANSACTIONS`` (default 1,000,000) and ``BENCH_DASHBOARD_CASES``
(default 100,000), e.g. ``BENCH_DASHBOARD_TRANSACTIONS=20000 BENCH_DASHBOARD_CASES=2000`` for a
quick run. Every transaction falls in the dashboard's default 30-day range (the worst case for
the grouped queries); 70 % of the cases are closed, each case has a ``case.open`` audit event
(the time-to-first-action query reads the audit log) and a third of them one by a person.
Run against PostgreSQL (``DATABASE_URL``) for figures that mean anything; SQLite works too.

Measured: the page with an empty cache (every chart's grouped query runs: "cold"), the page
within ``REPORTING_CACHE_SECONDS`` ("warm": what a supervisor refreshing it gets), and each
chart's query alone. Target: the warm page under 300 ms; the cold figures are printed.
"""

from __future__ import annotations

import os
import random
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, User
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.utils import timezone

from core.audit import PendingEvent, audit_record_many
from fraudcases.models import Case, CaseTransaction
from fraudcases.reporting.dashboard import CHARTS
from fraudcases.reporting.filters import default_filters
from scoring.models import ModelVersion, Rule, Transaction

N_TXNS = int(os.environ.get("BENCH_DASHBOARD_TRANSACTIONS", 1_000_000))
N_CASES = int(os.environ.get("BENCH_DASHBOARD_CASES", 100_000))
CHUNK = 10_000
CHANNELS = ("web", "pos", "mobile", "atm")
COUNTRIES = ("US", "GB", "DE", "FR", "NL", "ES", "IT", "BR", "NG", "IN")
CATEGORIES = ("grocery", "travel", "electronics", "gaming", "fuel", "restaurant")
LEVELS = ((0, "low"), (40, "medium"), (70, "high"), (90, "critical"))


def _level(score: int) -> str:
    return [name for floor, name in LEVELS if score >= floor][-1]


def _transactions(rng: random.Random, models: list[ModelVersion], now) -> None:
    start = now - timedelta(days=29, hours=23)
    span = int((now - start).total_seconds())
    features = {f"f{i}": 0.0 for i in range(20)}  # real rows carry their feature vector
    rule_reason = [{"code": "rule:bench-rule", "detail": "bench", "weight": 1.0}]
    for offset in range(0, N_TXNS, CHUNK):
        rows = []
        for n in range(offset, min(offset + CHUNK, N_TXNS)):
            score = min(int(rng.expovariate(1 / 18)), 100)
            lat = rng.uniform(-40, 60) if n % 3 == 0 else None
            rows.append(
                Transaction(
                    external_id=f"bench-{n}",
                    account_id=f"acct-{n % 50_000:06d}",
                    amount=Decimal(rng.randint(100, 500_000)) / 100,
                    currency="USD" if n % 5 else "EUR",
                    occurred_at=start + timedelta(seconds=rng.randrange(span)),
                    merchant_id=f"m-{n % 4000:05d}",
                    merchant_category=CATEGORIES[n % len(CATEGORIES)],
                    channel=CHANNELS[n % len(CHANNELS)],
                    country=COUNTRIES[n % len(COUNTRIES)],
                    latitude=lat,
                    longitude=rng.uniform(-120, 140) if lat is not None else None,
                    source=Transaction.Source.API,
                    status=Transaction.Status.SCORED,
                    risk_score=score,
                    risk_level=_level(score),
                    reasons=rule_reason if score >= 90 and n % 2 else [],
                    features=features,
                    model_version=models[n % len(models)],
                    is_fraud=(score >= 85) if n % 4 == 0 else None,
                )
            )
        Transaction.objects.bulk_create(rows, batch_size=CHUNK)


def _cases(rng: random.Random, now, people: list[User]) -> None:
    txn_ids = list(
        Transaction.objects.filter(risk_level__in=("high", "critical"))
        .order_by("id")
        .values_list("id", "account_id", "occurred_at")[:N_CASES]
    )
    if len(txn_ids) < N_CASES:  # not enough flagged rows: use any
        txn_ids = list(
            Transaction.objects.order_by("id").values_list("id", "account_id", "occurred_at")[
                :N_CASES
            ]
        )
    dispositions = ("fraud_confirmed", "legitimate", "inconclusive")
    for offset in range(0, len(txn_ids), CHUNK):
        part = txn_ids[offset : offset + CHUNK]
        cases = []
        for i, (_, _, occurred) in enumerate(part):
            closed = rng.random() < 0.7
            priority = rng.choice(("low", "medium", "high", "critical"))
            cases.append(
                Case(
                    account_id=f"bench-case-{offset + i}",
                    title="bench",
                    priority=priority,
                    priority_rank=Case.PRIORITY_RANK[priority],
                    risk_level=priority,
                    risk_score=rng.randint(70, 100),
                    status=Case.Status.CLOSED if closed else rng.choice(Case.OPEN_STATUSES),
                    disposition=rng.choice(dispositions) if closed else "",
                    assignee=rng.choice(people),
                    due_at=occurred + timedelta(hours=24),
                    closed_at=occurred + timedelta(hours=rng.randint(1, 72)) if closed else None,
                    closed_by=rng.choice(people) if closed else None,
                )
            )
        created = Case.objects.bulk_create(cases, batch_size=CHUNK)
        ids = [c.pk for c in created]
        if ids[0] is None:  # backends that do not return ids
            ids = list(Case.objects.order_by("-id").values_list("id", flat=True)[: len(cases)])
            ids.reverse()
        CaseTransaction.objects.bulk_create(
            [
                CaseTransaction(case_id=cid, transaction_id=t[0])
                for cid, t in zip(ids, part, strict=True)
            ],
            batch_size=CHUNK,
        )
        events = [
            PendingEvent(action="case.open", actor_label="system:bench", case=Case(pk=c))
            for c in ids
        ]
        events += [
            PendingEvent(action="case.claim", actor=people[0], case=Case(pk=c)) for c in ids[::3]
        ]
        audit_record_many(events=events)


@pytest.fixture(scope="module")
def dataset(django_db_setup, django_db_blocker):
    """The data set, made once; with ``--reuse-db`` a later run finds it and starts at once."""
    with django_db_blocker.unblock():
        group, _ = Group.objects.get_or_create(name="supervisor")
        sup, _ = User.objects.get_or_create(username="bench-supervisor")
        sup.groups.add(group)
        have = Transaction.objects.filter(external_id__startswith="bench-").count()
        if have == N_TXNS and Case.objects.filter(title="bench").count() == N_CASES:
            yield sup
            return
        assert have == 0, "A different bench data set is in this database: use --create-db."
        rng = random.Random(15)
        now = timezone.now()
        people = [User.objects.create_user(f"bench-{i}", password="x") for i in range(8)]
        models = [
            ModelVersion.objects.create(version=f"bench-v{i}", algorithm="x", file_path="/none")
            for i in range(3)
        ]
        Rule.objects.create(name="bench-rule", expression="amount > 1", risk_floor=90)
        started = time.perf_counter()
        _transactions(rng, models, now)
        _cases(rng, now, people)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")  # as autovacuum would after a bulk load
        print(
            f"\nbench data: {Transaction.objects.count():,} transactions, "
            f"{Case.objects.count():,} cases in {time.perf_counter() - started:.0f} s"
        )
        yield sup


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


@pytest.mark.django_db
def test_dashboard_page_with_1m_transactions_and_100k_cases(dataset):
    client = Client()
    client.force_login(dataset)

    def page():
        response = client.get("/dashboard/")
        assert response.status_code == 200

    cold = []
    for _ in range(2):
        cache.clear()
        cold.append(_timed(page))
    page()
    warm = min(_timed(page) for _ in range(5))
    filters = default_filters()
    per_chart = sorted(
        ((_timed(lambda c=c: c.compute(filters)), c.name) for c in CHARTS), reverse=True
    )
    print(
        f"\n/dashboard/ with {N_TXNS:,} transactions and {N_CASES:,} cases: "
        f"cold {min(cold) * 1000:.0f} ms (empty cache, every grouped query), "
        f"warm {warm * 1000:.0f} ms (cached aggregates)"
    )
    print("slowest charts (cold): " + ", ".join(f"{n} {t * 1000:.0f} ms" for t, n in per_chart[:6]))
    assert warm < 0.3
