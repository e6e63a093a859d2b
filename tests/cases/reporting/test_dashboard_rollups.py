"""The rollup path (fraudcases/reporting/rollup.py) gives the same rows as the raw queries, on a
random world, under every filter, and after late and changed rows (re-scored, relabelled,
deleted transactions, a case closed, a link added, a first action)."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from core.audit import audit_record
from fraudcases.models import Case, CaseTransaction, QAReview
from fraudcases.reporting import rollup
from fraudcases.reporting.dashboard import CHARTS, CHARTS_BY_NAME, dashboard_charts
from fraudcases.reporting.filters import DashboardFilters
from fraudcases.rollup_models import RollupDirtyDay
from scoring.models import ModelVersion, Rule, Transaction
from tests.factories import TransactionFactory

from .conftest import fold

pytestmark = pytest.mark.django_db

START = date(2026, 11, 2)
RANGE = DashboardFilters(start=START, end=START + timedelta(days=4))
CHANNELS = ("web", "pos", "")
COUNTRIES = ("US", "GB", "")
LEVELS = ((0, "low"), (40, "medium"), (70, "high"), (90, "critical"))
FILTERS = [
    RANGE,
    replace(RANGE, channel="web"),
    replace(RANGE, country="GB"),
    replace(RANGE, risk="high"),
    replace(RANGE, model="v1"),
    replace(RANGE, channel="pos", country="US", risk="critical", model="v2"),
    replace(RANGE, start=START + timedelta(days=1), end=START + timedelta(days=2)),
]
RAW_CHARTS = [c for c in CHARTS if c.raw is not None]


def _level(score: float | None) -> str:
    return "" if score is None else [n for floor, n in LEVELS if score >= floor][-1]


@pytest.fixture
def random_world(db, make_user, settings):
    """~250 transactions over five days (and one day either side) with every combination of
    the filter dimensions, unscored history, coordinates, labels and a rule; 40 cases in every
    state with links, audit events and quality reviews."""
    settings.REPORTING_TOP_MIN_LABELLED = 2
    rng = random.Random(15)
    people = [make_user("investigator", f"inv{i}") for i in range(3)]
    sup = make_user("supervisor", "sup")
    models = [
        ModelVersion.objects.create(version=v, algorithm="x", file_path="/none")
        for v in ("v1", "v2")
    ]
    Rule.objects.create(name="r-big", expression="amount > 1", risk_floor=90)
    txns = []
    for i in range(250):
        score = None if rng.random() < 0.1 else round(rng.uniform(0, 100), 1)
        coords = rng.random() < 0.4
        txns.append(
            TransactionFactory(
                external_id=f"rw-{i}",
                account_id=f"acct-{i % 30}",
                occurred_at=datetime(2026, 11, 1, tzinfo=UTC)
                + timedelta(minutes=rng.randrange(7 * 24 * 60)),
                channel=rng.choice(CHANNELS),
                country=rng.choice(COUNTRIES),
                merchant_id=rng.choice(("m-a", "m-b", "m-c", "")),
                merchant_category=rng.choice(("food", "travel", "")),
                risk_score=score,
                risk_level=_level(score),
                model_version=rng.choice([*models, None]) if score is not None else None,
                is_fraud=rng.choice((True, False, None, None)),
                reasons=[{"code": "rule:r-big", "detail": "x", "weight": 1.0}]
                if rng.random() < 0.2
                else [],
                latitude=rng.uniform(-60, 60) if coords else None,
                longitude=rng.uniform(-150, 150) if coords else None,
                amount=Decimal(rng.randint(100, 90_000)) / 100,
                currency=rng.choice(("USD", "EUR")),
                status=Transaction.Status.SCORED if score is not None else "imported",
            )
        )
    flagged = [t for t in txns if t.risk_score is not None and t.risk_score >= 40]
    for n, t in enumerate(flagged[:40]):
        priority = rng.choice(Case.Priority.values)
        case = Case.objects.create(
            account_id=f"case-{n}", title="rw", priority=priority, risk_level=t.risk_level
        )
        CaseTransaction.objects.create(case=case, transaction=t)
        if n % 4 == 0:  # a second transaction in some cases
            CaseTransaction.objects.create(case=case, transaction=txns[-1 - n])
        audit_record(action="case.open", case=case, obj=case)
        if n % 2:
            audit_record(action="case.claim", actor=rng.choice(people), case=case, obj=case)
        created = t.occurred_at + timedelta(minutes=30)
        fields = {"created_at": created, "due_at": created + timedelta(hours=rng.choice((2, 48)))}
        if rng.random() < 0.6:
            closed_at = created + timedelta(hours=rng.randint(1, 40))
            fields.update(
                status=Case.Status.CLOSED,
                closed_at=closed_at,
                disposition=rng.choice(Case.Disposition.values),
                closed_by=rng.choice(people),
            )
        Case.objects.filter(pk=case.pk).update(**fields)
        case.refresh_from_db()
        if case.status == Case.Status.CLOSED and n % 3 == 0:
            overturn = n % 2 == 0
            QAReview.objects.create(
                case=case,
                closed_at=case.closed_at,
                disposition=case.disposition,
                risk_score=case.risk_score,
                investigator=case.closed_by,
                closed_by=case.closed_by,
                sample_reason=QAReview.Reason.RANDOM,
                reviewer=sup,
                reviewed_at=case.closed_at,
                evidence_reviewed=True,
                disposition_correct=not overturn,
                note_adequate=True,
                verdict="overturn" if overturn else "agree",
                corrected_disposition="fraud_confirmed" if overturn else "",
            )
    return {"txns": txns, "people": people, "sup": sup, "models": models}


def assert_rollups_equal_raw(filters_list=FILTERS) -> None:
    fold()
    for filters in filters_list:
        for chart in RAW_CHARTS:
            assert chart.compute(filters) == chart.raw(filters), (chart.name, filters)


def test_every_chart_has_a_raw_path_to_compare_with():
    assert {c.name for c in RAW_CHARTS} == {c.name for c in CHARTS}


def test_rollups_equal_raw_queries_on_a_random_world(random_world):
    assert_rollups_equal_raw()
    # Not vacuous: the charts have something in them.
    assert sum(r[1] for r in CHARTS_BY_NAME["volume"].compute(RANGE)) > 150
    assert CHARTS_BY_NAME["top_merchants"].compute(RANGE)
    assert CHARTS_BY_NAME["precision_rule"].compute(RANGE)
    assert CHARTS_BY_NAME["map"].compute(RANGE)


def test_late_and_changed_rows_are_folded_in(random_world, make_user):
    assert_rollups_equal_raw([RANGE])
    txns = random_world["txns"]
    volume = CHARTS_BY_NAME["volume"]
    before = sum(r[3] for r in volume.compute(RANGE))  # flagged
    # Re-scored (a low one becomes critical, with another model), relabelled, deleted, late.
    low = next(t for t in txns if t.risk_level == "low" and t.occurred_at.date() >= START)
    Transaction.objects.filter(pk=low.pk).update(
        risk_score=99.0, risk_level="critical", model_version=random_world["models"][1]
    )
    Transaction.objects.filter(pk=txns[3].pk).update(is_fraud=True)
    Transaction.objects.filter(pk=txns[5].pk).delete()
    late = TransactionFactory(
        external_id="late",
        occurred_at=datetime(2026, 11, 3, 23, 59, tzinfo=UTC),
        risk_score=95.0,
        risk_level="critical",
        channel="web",
        country="GB",
    )
    assert RollupDirtyDay.objects.exists()  # the triggers marked the days
    # A case closed (through its columns and its audit event), a link added, a first action.
    case = Case.objects.exclude(status=Case.Status.CLOSED).order_by("id").first()
    Case.objects.filter(pk=case.pk).update(
        status=Case.Status.CLOSED,
        closed_at=datetime(2026, 11, 4, 12, tzinfo=UTC),
        disposition="fraud_confirmed",
    )
    CaseTransaction.objects.create(case=case, transaction=late)
    audit_record(action="case.note", actor=random_world["people"][0], case=case, obj=case)

    assert_rollups_equal_raw()
    flagged_now = sum(r[3] for r in volume.compute(RANGE))
    deleted_flagged = int(txns[5].risk_level in ("high", "critical"))
    assert flagged_now == before + 2 - deleted_flagged  # the re-scored one and the late one
    money = {r[0]: r for r in CHARTS_BY_NAME["money"].compute(RANGE)}
    assert Decimal(money[late.currency][3]) >= late.amount  # in a case closed as fraud


def test_the_dashboard_folds_before_it_reads(random_world, make_user):
    user = make_user("auditor", "aud")
    first = dashboard_charts(user=user, filters=RANGE)
    TransactionFactory(
        external_id="new", occurred_at=datetime(2026, 11, 2, 9, tzinfo=UTC), risk_score=10.0
    )
    second = dashboard_charts(user=user, filters=RANGE)
    assert second["volume"]["rows"][0][1] == first["volume"]["rows"][0][1] + 1


def test_a_fold_is_idempotent_and_a_rebuild_changes_nothing(random_world):
    fold()
    before = {c.name: c.compute(RANGE) for c in CHARTS}
    sizes = rollup.rollup_sizes()
    assert rollup.rollup_refresh() == 0  # nothing dirty
    rollup.rollup_rebuild()
    assert rollup.rollup_sizes() == sizes
    assert {c.name: c.compute(RANGE) for c in CHARTS} == before


@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Kolkata"])
def test_another_time_zone_rebuilds_on_local_days(random_world, settings, zone):
    fold()
    settings.TIME_ZONE = zone  # Kolkata: +5:30, local hours are not UTC hours
    assert_rollups_equal_raw()
    # A change after the rebuild lands on the right local day.
    TransactionFactory(
        external_id="tz", occurred_at=datetime(2026, 11, 2, 23, 45, tzinfo=UTC), risk_score=99.0
    )
    assert_rollups_equal_raw([RANGE])


def test_a_case_change_shows_at_once_whatever_wrote_it(random_world, make_user, settings):
    """The case charts read the case facts; a change to a case marks it (a trigger on the
    cases, no audit event needed), and the dashboard folds the marked cases before it reads,
    without waiting for the transaction rollups' lag and without touching their version."""
    settings.REPORTING_ROLLUP_MAX_LAG_SECONDS = 3600
    user = make_user("auditor", "aud")
    fold()
    before = dashboard_charts(user=user, filters=RANGE)
    rolled = rollup.rollup_version()
    case = Case.objects.filter(status=Case.Status.NEW).order_by("id").first()
    # A raw UPDATE (no audit event): closed as fraud inside the range.
    Case.objects.filter(pk=case.pk).update(
        status=Case.Status.CLOSED,
        closed_at=datetime(2026, 11, 3, 12, tzinfo=UTC),
        disposition="fraud_confirmed",
    )
    after = dashboard_charts(user=user, filters=RANGE)
    dispositions = dict(after["dispositions"]["rows"])
    assert (
        dispositions["fraud_confirmed"]
        == dict(before["dispositions"]["rows"])["fraud_confirmed"] + 1
    )

    def open_cases(charts):
        return sum(sum(r[1:]) for r in charts["backlog"]["rows"])

    assert open_cases(after) == open_cases(before) - 1
    assert case.pk not in [r[0] for r in after["open_at_risk"]["rows"]]
    assert rollup.rollup_version() == rolled  # the transaction charts' cache stays valid
    for chart in RAW_CHARTS:
        assert chart.compute(RANGE) == chart.raw(RANGE), chart.name


def test_a_rule_added_or_renamed_rebuilds_the_per_rule_rows(random_world):
    """The case day rollup keeps rows per rule: a change to the rules table (a trigger)
    makes the next read rebuild, so the precision chart follows the rules of now."""
    precision = CHARTS_BY_NAME["precision_rule"]
    fold()
    assert [r[0] for r in precision.compute(RANGE)] == ["r-big"]
    Rule.objects.filter(name="r-big").update(name="r-renamed")
    fold()
    assert precision.compute(RANGE) == precision.raw(RANGE) == []  # reasons name "r-big"
    Rule.objects.create(name="r-big", expression="amount > 1", risk_floor=90)
    fold()
    rows = precision.compute(RANGE)
    assert rows == precision.raw(RANGE) and [r[0] for r in rows] == ["r-big"]
