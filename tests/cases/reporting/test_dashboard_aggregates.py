"""Every chart's rows against the numbers worked out by hand in conftest.py's table."""

from __future__ import annotations

from dataclasses import replace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.audit import audit_record
from core.models import AuditEvent
from fraudcases.reporting.dashboard import (
    CHARTS,
    CHARTS_BY_NAME,
    chart_rows,
    dashboard_charts,
    dashboard_tiles,
)
from fraudcases.reporting.rollup import rollup_refresh

from .conftest import RANGE, fold

pytestmark = pytest.mark.django_db


def rows(name, filters=RANGE):
    fold()
    return CHARTS_BY_NAME[name].compute(filters)


def test_volume_and_flagged_rate(world):
    assert rows("volume") == [
        ["2026-11-02", 4, 3, 2, 0.6667],  # t1..t4; t4 is unscored history; t1, t3 flagged
        ["2026-11-03", 2, 2, 1, 0.5],  # t5 medium, t6 high
        ["2026-11-04", 0, 0, 0, None],
    ]


def test_filters_narrow_the_transactions(world):
    web = replace(RANGE, channel="web")
    assert rows("volume", web)[0] == ["2026-11-02", 3, 2, 1, 0.5]  # t1, t2, t4
    gb = replace(RANGE, country="GB")
    assert [r[1] for r in rows("volume", gb)] == [1, 1, 0]  # t3, t5
    assert [r[1] for r in rows("volume", replace(RANGE, risk="high"))] == [1, 1, 0]  # t3, t6
    assert [r[1] for r in rows("volume", replace(RANGE, model="v2"))] == [1, 0, 0]  # t3
    # Case charts follow the transaction filters through the cases' transactions.
    assert rows("case_flow", replace(RANGE, model="v2")) == [
        ["2026-11-02", 1, 1],  # c2 opened and closed
        ["2026-11-03", 0, 0],
        ["2026-11-04", 0, 0],
    ]


def test_score_bands(world):
    assert dict(rows("score_bands")) == {
        "0-9": 0,
        "10-19": 0,
        "20-29": 1,  # t2
        "30-39": 0,
        "40-49": 1,  # t5
        "50-59": 0,
        "60-69": 0,
        "70-79": 1,  # t3
        "80-89": 1,  # t6
        "90-100": 1,  # t1
    }


def test_heatmap_counts_flagged_by_weekday_and_hour(world):
    cells = {(wd, hr): n for wd, hr, n in rows("heatmap") if n}
    assert cells == {("Mon", 10): 2, ("Tue", 7): 1}  # t1 + t3 Monday 10h; t6 Tuesday 7h
    assert len(rows("heatmap")) == 7 * 24


def test_map_cells(world):
    assert sorted(rows("map")) == [[41.0, -74.0, 1], [52.0, 0.0, 1]]


def test_top_merchants_by_fraud_rate(world):
    # m-a: t1 fraud + t2 legit -> 1/2; m-c: t4 legit only (no fraud: not ranked).
    assert rows("top_merchants") == [["m-a", 2, 2, 1, 0.5]]
    assert rows("top_countries") == [["US", 4, 3, 1, 0.3333]]  # t1 t2 t4 labelled, t6 not


def test_case_flow_backlog_and_dispositions(world):
    assert rows("case_flow") == [
        ["2026-11-02", 2, 1],  # c1, c2 opened; c2 closed
        ["2026-11-03", 2, 2],  # c3, c4 opened; c1, c4 closed
        ["2026-11-04", 0, 0],
    ]
    assert rows("backlog") == [
        ["critical", 0, 0, 0, 0],
        ["high", 0, 0, 0, 0],
        ["medium", 1, 0, 0, 0],  # c3, due in the past
        ["low", 0, 0, 0, 0],
    ]
    assert rows("dispositions") == [
        ["fraud_confirmed", 1],
        ["legitimate", 1],
        ["inconclusive", 1],
        ["merged", 0],  # cases merged into another are closures too, not outcomes
    ]


def test_handling_medians(world):
    got = {r[0]: r[1:] for r in rows("handling")}
    assert got["critical"][0] == 1 and got["critical"][2] == 24.0
    # high: c2 (6 h) and c4 (10 h): the median of an even count is the mean of the middle two.
    assert got["high"][0] == 2 and got["high"][2] == 8.0
    assert got["medium"] == [0, None, None]
    assert got["critical"][1] is None  # nobody acted on c1 (no audit event by a person)


def test_time_to_first_action_comes_from_the_audit_log(world):
    from core.audit import audit_record

    c1 = world["c"]["c1"]
    event = audit_record(actor=world["users"]["ivy"], action="case.note", case=c1, obj=c1)
    expected = round((event.created_at - c1.created_at).total_seconds() / 3600, 2)
    got = {r[0]: r for r in rows("handling")}
    assert got["critical"][2] == pytest.approx(expected, abs=0.01)
    assert AuditEvent.objects.filter(case=c1).count() == 1


def test_money_precision_and_open_cases(world):
    # At risk: c3's t5 (300.00); confirmed: c1's t1 (100.00, closed on 11-03).
    assert rows("money") == [["USD", "300.00", 1, "100.00", 1]]
    assert rows("precision_model") == [["v1", 2, 1, 0.5], ["v2", 1, 0, 0.0]]  # c1, c4 / c2
    assert rows("precision_rule") == [["big-amount", 1, 1, 1.0]]  # c1 only
    case3 = world["c"]["c3"]
    assert rows("open_at_risk") == [[case3.pk, "acct-t5", "medium", 45, "300.00", "ivy"]]


def test_overturn_rates(world):
    assert rows("overturn_investigator") == [["ivy", 2, 1, 0.5], ["max", 1, 0, 0.0]]
    assert rows("overturn_model") == [["v1", 2, 0, 0.0], ["v2", 1, 1, 1.0]]
    assert rows("overturn_rule") == [["big-amount", 1, 0, 0.0]]


def test_tiles_and_one_grouped_query_per_chart(world, make_user, settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
    user = make_user("auditor", "aud")
    fold()
    with CaptureQueriesContext(connection) as queries:
        charts = dashboard_charts(user=user, filters=RANGE)
    # Not counted: the permission check's group lookup, and on PostgreSQL the savepoint and
    # ``SET LOCAL work_mem`` the cold computation runs in.
    bookkeeping = ("SAVEPOINT", "RELEASE SAVEPOINT", "SET LOCAL")
    chart_queries = [
        q
        for q in queries.captured_queries
        if 'FROM "auth_group"' not in q["sql"] and not q["sql"].startswith(bookkeeping)
    ]
    # One query each; the two rule charts also read the rule names (a tiny table); the money
    # chart reads the open cases' money from the link facts and the confirmed money from the
    # case day rollup; the cache key's data version is four index lookups (rollup state; dirty
    # days: none since the fold; the case facts' state with whether a case is marked; the last
    # audit event).
    expected = len(CHARTS) + 2 + 1 + 4
    assert len(chart_queries) == expected, [q["sql"][:80] for q in chart_queries]
    tiles = dashboard_tiles(charts)
    assert tiles["open_cases"] == 1 and tiles["sla_breached"] == 1
    assert tiles["precision"] == 0.3333  # 1 fraud of 3 closed
    assert tiles["flagged_rate"] == 0.6  # 3 flagged of 5 scored
    assert tiles["at_risk"] == [("USD", "300.00")]
    assert tiles["overturn_rate"] == 0.3333


def test_charts_fail_closed_and_are_cached(world, make_user, settings):
    settings.REPORTING_CACHE_SECONDS = 60
    settings.REPORTING_ROLLUP_MAX_LAG_SECONDS = 3600  # the rollups fold when told to
    nobody = make_user(None, "nobody")
    assert dashboard_charts(user=nobody, filters=RANGE) is None
    user = make_user("investigator", "inv")
    volume = CHARTS_BY_NAME["volume"]
    first = chart_rows(user=user, chart=volume, filters=RANGE)
    world["t"]["t2"].delete()  # changes the answer; the cached rows stay for a while
    assert chart_rows(user=user, chart=volume, filters=RANGE) == first
    assert volume.raw(RANGE)[0][1] == 3
    rollup_refresh()  # the beat task's fold: a new rollup version, so a new cache key
    assert chart_rows(user=user, chart=volume, filters=RANGE)[0][1] == 3
    audit_record(action="case.note", case=world["c"]["c3"], obj=world["c"]["c3"])
    assert chart_rows(user=user, chart=volume, filters=RANGE)[0][1] == 3  # a case changed
    settings.REPORTING_CACHE_SECONDS = 0  # not cached at all
    settings.REPORTING_ROLLUP_MAX_LAG_SECONDS = 0  # and folded on every read
    world["t"]["t4"].delete()
    assert chart_rows(user=user, chart=volume, filters=RANGE)[0][1] == 2
