"""Dashboard performance (``make bench``): the page with 1M transactions and 100k cases.

Sizes: ``BENCH_DASHBOARD_TRANSACTIONS`` (default 1,000,000) and ``BENCH_DASHBOARD_CASES``
(default 100,000, at most a tenth of the transactions), e.g.
``BENCH_DASHBOARD_TRANSACTIONS=20000 BENCH_DASHBOARD_CASES=2000`` for a quick run. Run it on
PostgreSQL (``DATABASE_URL``) for figures that mean anything; SQLite works too.

The data are made in the database, set-based: one ``INSERT … SELECT`` per table over a series
of numbers (``generate_series`` on PostgreSQL, a recursive CTE on SQLite), cloning a template
row made through the ORM so every column a model gains later gets a valid value. Every
transaction falls in the dashboard's default 30-day range (the worst case); every tenth one is
an alerted transaction (risk 40-100) with a case; 70 % of the cases are closed (a third
``fraud_confirmed``), each case has a ``case.open`` audit event and a third of them one by a
person; 5 % of the closures have a quality review, a fifth of them overturned.

Measured, and written to ``bench/results/dashboard-<date>.json``:

- **cold**: the page with an empty cache (``cache.clear()``): what the first visitor after a
  change gets; every chart reads its rollup (or raw tables where no rollup applies);
- **warm**: the page again within ``REPORTING_CACHE_SECONDS``;
- the same for a filtered view (channel + country + risk level + model version);
- each chart's compute alone (cold), and the SQL query count of each page;
- the rollup's full rebuild and an incremental fold of 1,000 re-scored transactions.

Target (issue 15): the page under 300 ms cold and warm. The machine may be shared: the figures
say what this run saw, not what the code can do on an idle host.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from datetime import UTC, timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User
from django.core.cache import cache
from django.db import connection, models
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.audit import PendingEvent, audit_record_many
from fraudcases.models import Case, CaseTransaction, QAReview
from fraudcases.reporting import rollup
from fraudcases.reporting.dashboard import CHARTS
from fraudcases.reporting.filters import DashboardFilters, default_filters
from scoring.models import ModelVersion, Rule, Transaction

N_TXNS = int(os.environ.get("BENCH_DASHBOARD_TRANSACTIONS", 1_000_000))
N_CASES = min(int(os.environ.get("BENCH_DASHBOARD_CASES", 100_000)), N_TXNS // 10)
RESULTS = Path(__file__).parent / "results"
CHANNELS = ("web", "pos", "mobile", "atm")
COUNTRIES = ("US", "GB", "DE", "FR", "NL", "ES", "IT", "BR", "NG", "IN")
CATEGORIES = ("grocery", "travel", "electronics", "gaming", "fuel", "restaurant")
PEOPLE = 8
MODELS = 3


# --- Set-based data generation ---------------------------------------------------------------


def _pg() -> bool:
    return connection.vendor == "postgresql"


def _rand() -> str:
    """A uniform number in [0, 1) per row."""
    return "random()" if _pg() else "((abs(random()) % 1000000) / 1000000.0)"


def _plus_seconds(base: str, seconds: str) -> str:
    if _pg():
        return f"({base} + ({seconds}) * interval '1 second')"
    return f"strftime('%Y-%m-%d %H:%M:%f', {base}, '+' || CAST({seconds} AS INTEGER) || ' seconds')"


def _pick(values: tuple[str, ...], index: str) -> str:
    whens = " ".join(f"WHEN {i} THEN '{v}'" for i, v in enumerate(values))
    return f"(CASE ({index}) {whens} END)"


def _skewed(values: tuple[str, ...], r: str) -> str:
    """The first value half the time, the second a quarter, ... (the last takes the rest)."""
    whens = " ".join(
        f"WHEN {r} < {1 - 0.5 ** (k + 1)} THEN '{v}'" for k, v in enumerate(values[:-1])
    )
    return f"(CASE {whens} ELSE '{values[-1]}' END)"


def _numbers(n: int) -> str:
    """``SELECT i`` for i in 0..n-1."""
    if _pg():
        return f"SELECT i FROM generate_series(0, {n - 1}) AS s(i)"
    return (
        f"WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < {n - 1}) "
        "SELECT i FROM s"
    )


def _clone(model: type[models.Model], template_pk: int, source: str, overrides: dict) -> None:
    """``INSERT INTO <model> SELECT …``: each column from ``overrides`` (SQL over ``g``, the rows
    of ``source``) or else the template row's value (``tpl``)."""
    table = model._meta.db_table
    columns = [f.column for f in model._meta.concrete_fields if not f.primary_key]
    select = ", ".join(overrides.get(c, f"tpl.{connection.ops.quote_name(c)}") for c in columns)
    names = ", ".join(connection.ops.quote_name(c) for c in columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({names}) SELECT {select} FROM ({source}) g "
            f"CROSS JOIN {table} tpl WHERE tpl.id = {int(template_pk)}"  # no params: % is SQL
        )
    model.objects.filter(pk=template_pk).delete()


def _lit(value) -> str:
    """A datetime as a SQL literal of the backend."""
    if _pg():
        return f"'{value.isoformat()}'::timestamptz"
    return f"'{value.astimezone(UTC).strftime('%Y-%m-%d %H:%M:%S.%f')}'"


def _transactions(now, models_: list[ModelVersion]) -> None:
    start = now - timedelta(days=29, hours=23)
    span = int((now - start).total_seconds())
    tpl = Transaction.objects.create(
        external_id="bench-template",
        account_id="x",
        amount=1,
        currency="USD",
        occurred_at=now,
        status=Transaction.Status.SCORED,
        features={f"f{i}": 0.0 for i in range(20)},  # real rows carry their feature vector
    )
    # r1: score, r2: time (and so the model version), r3: amount, r4/r5/r6: coordinates,
    # r7: label noise, r8: channel, r9: country, r10: merchant.
    rand = ", ".join(f"{_rand()} AS r{k}" for k in range(1, 11))
    source = f"SELECT i, {rand} FROM ({_numbers(N_TXNS)}) n"
    # Every tenth transaction was alerted (risk 40-100); the rest mostly low (100·u⁶).
    numeric = "numeric" if _pg() else "real"
    score = (
        f"ROUND(CAST(CASE WHEN g.i % 10 = 0 THEN 40 + 60 * g.r1 "
        f"ELSE 100 * g.r1 * g.r1 * g.r1 * g.r1 * g.r1 * g.r1 END AS {numeric}), 1)"
    )
    level = (
        f"(CASE WHEN {score} >= 90 THEN 'critical' WHEN {score} >= 70 THEN 'high' "
        f"WHEN {score} >= 40 THEN 'medium' ELSE 'low' END)"
    )
    model_ids = [m.pk for m in models_]

    def city(step: int, span: int) -> str:  # one of 40 cities' latitude or longitude offset
        return f"((g.i % 40) * {step}) % {span}"

    _clone(
        Transaction,
        tpl.pk,
        source,
        {
            "external_id": "'bench-' || g.i",
            "account_id": "'acct-' || (g.i % 50000)",
            "amount": f"ROUND(CAST(1 + 4999 * g.r3 * g.r3 AS {numeric}), 2)",
            "currency": "CASE WHEN g.i % 5 = 0 THEN 'EUR' ELSE 'USD' END",
            "occurred_at": _plus_seconds(_lit(start), f"FLOOR(g.r2 * {span})"),
            "created_at": _lit(now),
            "scored_at": _lit(now),
            # Skewed like real traffic: a few merchants, channels and countries carry most.
            "merchant_id": "'m-' || CAST(FLOOR(4000 * g.r10 * g.r10 * g.r10) AS INTEGER)",
            "merchant_category": _pick(CATEGORIES, f"g.i % {len(CATEGORIES)}"),
            "channel": _skewed(CHANNELS, "g.r8"),
            "country": _skewed(COUNTRIES, "g.r9"),
            # A third carry coordinates, within half a degree of one of 40 cities.
            "latitude": f"CASE WHEN g.r4 < 0.33 THEN -35 + {city(37, 90)} + g.r5 - 0.5 END",
            "longitude": f"CASE WHEN g.r4 < 0.33 THEN -120 + {city(73, 250)} + g.r6 - 0.5 END",
            "risk_score": score,
            "risk_level": level,
            "reasons": (
                "CASE WHEN g.i % 20 = 0 THEN "
                """'[{"code": "rule:bench-rule", "detail": "bench", "weight": 1.0}]' """
                "ELSE '[]' END"
            )
            + ("::jsonb" if _pg() else ""),
            # Model versions follow each other in time (one champion at a time).
            "model_version_id": f"{model_ids[0]} + CAST(FLOOR(g.r2 * {len(model_ids)}) AS INTEGER)",
            "is_fraud": f"CASE WHEN g.i % 8 = 0 THEN ({score} >= 85 OR g.r7 < 0.01) END",
            "label_source": "CASE WHEN g.i % 8 = 0 THEN 'import' ELSE '' END",
            "labelled_at": f"CASE WHEN g.i % 8 = 0 THEN {_lit(now)} END",
        },
    )


def _cases(now, people: list[User]) -> None:
    tpl_case = Case.objects.create(account_id="bench-template", title="bench")
    # One case per alerted transaction (i % 10 = 0), the first N_CASES of them.
    source = (
        f"SELECT t.id AS tid, t.occurred_at AS at, t.risk_score AS score, t.risk_level AS lvl, "
        f"{_rand()} AS r1, {_rand()} AS r2, {_rand()} AS r3, "
        f"ROW_NUMBER() OVER (ORDER BY t.id) AS k "
        f"FROM scoring_transaction t WHERE t.external_id LIKE 'bench-%' "
        f"AND t.risk_score >= 40 AND CAST(SUBSTR(t.external_id, 7) AS INTEGER) % 10 = 0 "
        f"ORDER BY t.id LIMIT {N_CASES}"
    )
    created = _plus_seconds("g.at", "300")
    closes = _plus_seconds("g.at", "300 + 3600 * (1 + FLOOR(g.r2 * 72))")
    closed = f"(g.r1 < 0.7 AND {closes} < {_lit(now)})"
    people_ids = [p.pk for p in people]
    person = f"{people_ids[0]} + g.k % {len(people_ids)}"
    open_statuses = tuple(Case.OPEN_STATUSES)
    _clone(
        Case,
        tpl_case.pk,
        source,
        {
            "account_id": "'bench-case-' || g.tid",
            "title": "'bench'",
            "status": f"CASE WHEN {closed} THEN 'closed' ELSE "
            f"{_pick(open_statuses, f'g.k % {len(open_statuses)}')} END",
            "priority": "g.lvl",
            "priority_rank": "CASE g.lvl WHEN 'critical' THEN 4 WHEN 'high' THEN 3 "
            "WHEN 'medium' THEN 2 ELSE 1 END",
            "risk_level": "g.lvl",
            "risk_score": "g.score",
            "disposition": f"CASE WHEN {closed} THEN "
            f"{_pick(tuple(Case.Disposition.values), 'CAST(FLOOR(g.r3 * 3) AS INTEGER)')} "
            "ELSE '' END",
            "created_at": created,
            "updated_at": created,
            "due_at": _plus_seconds("g.at", "86400"),
            "closed_at": f"CASE WHEN {closed} THEN {closes} END",
            "assignee_id": person,
            "closed_by_id": f"CASE WHEN {closed} THEN {person} END",
        },
    )
    tpl_link = CaseTransaction.objects.create(
        case=Case.objects.filter(title="bench").first(),
        transaction=Transaction.objects.order_by("-id").first(),
    )
    _clone(
        CaseTransaction,
        tpl_link.pk,
        "SELECT c.id AS cid, t.id AS tid FROM fraudcases_case c JOIN scoring_transaction t "
        "ON c.account_id = 'bench-case-' || t.id WHERE c.title = 'bench'",
        {"case_id": "g.cid", "transaction_id": "g.tid"},
    )
    reviewed = Case.objects.filter(title="bench", status=Case.Status.CLOSED).order_by("id")
    closed_ids = list(reviewed.values_list("id", flat=True))
    tpl_review = QAReview.objects.create(
        case_id=closed_ids[0],
        closed_at=now,
        disposition="legitimate",
        risk_score=0,
        sample_reason=QAReview.Reason.RANDOM,
        reviewer=people[-1],
        reviewed_at=now,
        evidence_reviewed=True,
        disposition_correct=True,
        note_adequate=True,
        verdict=QAReview.Verdict.AGREE,
    )
    overturn = "g.k % 5 = 0"
    _clone(
        QAReview,
        tpl_review.pk,
        "SELECT c.id AS cid, c.closed_at AS at, c.disposition AS disp, c.risk_score AS score, "
        "c.assignee_id AS who, ROW_NUMBER() OVER (ORDER BY c.id) AS k FROM fraudcases_case c "
        "WHERE c.title = 'bench' AND c.status = 'closed' AND c.id % 20 = 0",
        {
            "case_id": "g.cid",
            "closed_at": "g.at",
            "disposition": "g.disp",
            "risk_score": "g.score",
            "investigator_id": "g.who",
            "closed_by_id": "g.who",
            "reviewed_at": "g.at",
            "disposition_correct": f"NOT ({overturn})",
            "verdict": f"CASE WHEN {overturn} THEN 'overturn' ELSE 'agree' END",
            "corrected_disposition": f"CASE WHEN {overturn} THEN "
            "(CASE WHEN g.disp = 'fraud_confirmed' THEN 'legitimate' ELSE 'fraud_confirmed' END) "
            "ELSE '' END",
        },
    )
    # The audit trail the time-to-first-action query reads, through the real chain.
    ids = list(Case.objects.filter(title="bench").order_by("id").values_list("id", flat=True))
    for offset in range(0, len(ids), 20_000):
        part = ids[offset : offset + 20_000]
        events = [
            PendingEvent(action="case.open", actor_label="system:bench", case=Case(pk=c))
            for c in part
        ]
        events += [
            PendingEvent(action="case.claim", actor=people[0], case=Case(pk=c)) for c in part[::3]
        ]
        audit_record_many(events=events)


def _analyze() -> None:
    if _pg():
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")  # as autovacuum would after a bulk load


@pytest.fixture(scope="module")
def dataset(django_db_setup, django_db_blocker):
    """The data set, made once; with ``--reuse-db`` a later run finds it and starts at once."""
    with django_db_blocker.unblock():
        group, _ = Group.objects.get_or_create(name="supervisor")
        sup, _ = User.objects.get_or_create(username="bench-supervisor")
        sup.groups.add(group)
        have = Transaction.objects.filter(external_id__startswith="bench-").count()
        timings = {}
        if have == N_TXNS and Case.objects.filter(title="bench").count() == N_CASES:
            started = time.perf_counter()
            rollup.rollup_rebuild()  # the code may have changed since the data were made
            timings["rollup_rebuild_s"] = round(time.perf_counter() - started, 1)
            _analyze()
            yield sup, timings
            return
        assert have == 0, "A different bench data set is in this database: use --create-db."
        now = timezone.now()
        people = [User.objects.create_user(f"bench-{i}", password="x") for i in range(PEOPLE)]
        models_ = [
            ModelVersion.objects.create(version=f"bench-v{i}", algorithm="x", file_path="/none")
            for i in range(MODELS)
        ]
        Rule.objects.create(name="bench-rule", expression="amount > 1", risk_floor=90)
        started = time.perf_counter()
        _transactions(now, models_)
        timings["generate_transactions_s"] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()
        _cases(now, people)
        timings["generate_cases_s"] = round(time.perf_counter() - started, 1)
        _analyze()
        started = time.perf_counter()
        rollup.rollup_rebuild()
        timings["rollup_rebuild_s"] = round(time.perf_counter() - started, 1)
        _analyze()
        print(
            f"\nbench data: {Transaction.objects.count():,} transactions, "
            f"{Case.objects.count():,} cases; generated in "
            f"{timings['generate_transactions_s']} + {timings['generate_cases_s']} s, "
            f"rollups built in {timings['rollup_rebuild_s']} s"
        )
        yield sup, timings


# --- Measurements ---------------------------------------------------------------------------


def run_context(benchmark: str) -> dict:
    """What every result file of these benchmarks starts with: when, where and how big."""
    return {
        "benchmark": benchmark,
        "when": timezone.now().isoformat(timespec="seconds"),
        "database": connection.vendor,
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "transactions": N_TXNS,
        "cases": N_CASES,
    }


def _page(client: Client, query: str) -> tuple[float, int]:
    """Server time of one request (seconds) and its SQL query count."""
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        response = client.get(f"/dashboard/?{query}")
        elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.content[:500]
    return elapsed, len(queries)


def _measure(client: Client, query: str, repeat: int = 3) -> dict:
    cold, warm = [], []
    for _ in range(repeat):
        cache.clear()
        seconds, cold_queries = _page(client, query)
        cold.append(seconds)
        seconds, warm_queries = _page(client, query)
        warm.append(seconds)
    return {
        "query": query,
        "cold_ms": [round(s * 1000) for s in cold],
        "cold_median_ms": round(statistics.median(cold) * 1000),
        "warm_ms": [round(s * 1000) for s in warm],
        "warm_median_ms": round(statistics.median(warm) * 1000),
        "cold_queries": cold_queries,
        "warm_queries": warm_queries,
    }


def _per_chart(filters: DashboardFilters, *, raw: bool = False) -> list[tuple[str, int]]:
    """Each chart's compute alone (ms), or its raw query over the transactions table (for the
    charts that read a transaction rollup: the same load, the figure before the rollups)."""
    out = []
    for chart in CHARTS:
        if raw and chart.source != "rollup":
            continue
        started = time.perf_counter()
        (chart.raw if raw else chart.compute)(filters)
        out.append((chart.name, round((time.perf_counter() - started) * 1000)))
    return sorted(out, key=lambda x: -x[1])


@pytest.mark.django_db
def test_dashboard_page_with_1m_transactions_and_100k_cases(dataset):
    sup, timings = dataset
    client = Client()
    client.force_login(sup)
    _page(client, "")  # connection, templates, URLconf warmed up
    default = default_filters()
    model = ModelVersion.objects.filter(version__startswith="bench-").order_by("version").first()
    filtered = f"channel=web&country=GB&risk=high&model={model.version}"
    pages = {"default": _measure(client, ""), "filtered": _measure(client, filtered)}
    charts = _per_chart(default)
    charts_raw = _per_chart(default, raw=True)

    # An incremental fold: 1,000 of today's transactions re-scored (the triggers mark the day).
    since = timezone.now() - timedelta(hours=12)
    ids = list(
        Transaction.objects.filter(external_id__startswith="bench-", occurred_at__gte=since)
        .order_by()
        .values_list("id", flat=True)[:1000]
    )
    Transaction.objects.filter(pk__in=ids).update(risk_score=99.0, risk_level="critical")
    started = time.perf_counter()
    folded = rollup.rollup_refresh()
    fold_ms = round((time.perf_counter() - started) * 1000)
    after_fold = _measure(client, "", repeat=1)

    result = {
        **run_context("dashboard"),
        **timings,
        "pages": pages,
        "page_after_fold": after_fold,
        "fold_1000_rescored": {"ms": fold_ms, "days": folded},
        "charts_cold_ms": dict(charts),
        "transaction_charts_raw_ms": dict(charts_raw),
        "rollup_rows": rollup.rollup_sizes(),
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"dashboard-{timezone.now():%Y-%m-%d}-{connection.vendor}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")

    print(
        f"\n/dashboard/ with {N_TXNS:,} transactions and {N_CASES:,} cases ({connection.vendor}, "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)"
    )
    print(
        f"{'view':<10} {'cold ms (median)':>17} {'warm ms (median)':>17} {'queries cold/warm':>18}"
    )
    for name, p in pages.items():
        print(
            f"{name:<10} {p['cold_median_ms']:>17} {p['warm_median_ms']:>17} "
            f"{p['cold_queries']:>9}/{p['warm_queries']}"
        )
    print("charts (cold ms): " + ", ".join(f"{n} {ms}" for n, ms in charts))
    print("the same from the transactions table: " + ", ".join(f"{n} {ms}" for n, ms in charts_raw))
    print(
        f"fold of 1,000 re-scored transactions: {fold_ms} ms ({folded} days); rollup rows: "
        f"{result['rollup_rows']}; written {out}"
    )
    assert pages["default"]["cold_median_ms"] < 300
    assert pages["default"]["warm_median_ms"] < 300
