"""A small world with every number of the dashboard computed by hand (see the table below).

Range: Mon 2026-11-02 .. Wed 2026-11-04 (UTC). Transactions (amounts USD):

| t  | day   | time  | channel | country | score | level    | label | merchant | model | case |
|----|-------|-------|---------|---------|-------|----------|-------|----------|-------|------|
| t1 | 11-02 | 10:15 | web     | US      | 95    | critical | fraud | m-a      | v1    | c1   |
| t2 | 11-02 | 10:20 | web     | US      | 20    | low      | legit | m-a      | v1    | -    |
| t3 | 11-02 | 10:40 | pos     | GB      | 75    | high     | -     | m-b      | v2    | c2   |
| t4 | 11-02 | 13:00 | web     | US      | -     | (import) | legit | m-c      | -     | -    |
| t5 | 11-03 | 09:00 | web     | GB      | 45    | medium   | -     | m-c      | v1    | c3   |
| t6 | 11-03 | 07:30 | web     | US      | 80    | high     | -     | m-d      | v1    | c4   |

t1 (100.00) fired rule ``big-amount``; t3 200.00, t5 300.00, t6 40.00, t2 50.00, t4 10.00.
t1 and t3 have coordinates (40.7, -74.0) and (51.5, -0.1).

Cases: c1 critical, opened 11-02 11:00, closed 11-03 11:00 (24 h) fraud_confirmed by ivy;
c2 high, opened 11-02 12:00, closed 11-02 18:00 (6 h) legitimate by ivy; c3 medium, open,
opened 11-03 09:30, due in the past (breached), assigned to ivy; c4 high, opened 11-03 08:00,
closed 11-03 18:00 (10 h) inconclusive by max (asked for by max, approved by sam).
Quality reviews: c1 agree, c2 overturn (both ivy's), c4 agree (max's).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.core.cache import cache

from fraudcases.models import Case, CaseTransaction, QAReview
from fraudcases.reporting.filters import DashboardFilters
from fraudcases.reporting.rollup import rollup_version
from scoring.models import ModelVersion, Rule, Transaction
from tests.factories import TransactionFactory


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


RANGE = DashboardFilters(start=date(2026, 11, 2), end=date(2026, 11, 4))


@pytest.fixture(autouse=True)
def _fresh_cache(settings):
    """Chart rows are cached per filter set; every test starts from an empty cache. The
    transaction rollups fold on every read that finds dirty days (no lag), so what a test
    wrote is what the charts show."""
    settings.REPORTING_ROLLUP_MAX_LAG_SECONDS = 0
    cache.clear()
    yield
    cache.clear()


def fold() -> None:
    """Fold the transactions written so far into the rollups, as the dashboard does first."""
    rollup_version()


@pytest.fixture
def world(db, make_user, settings):
    settings.REPORTING_TOP_MIN_LABELLED = 1
    ivy = make_user("investigator", "ivy")
    mx = make_user("investigator", "max")
    sam = make_user("supervisor", "sam")
    v1 = ModelVersion.objects.create(version="v1", algorithm="x", file_path="/none")
    v2 = ModelVersion.objects.create(version="v2", algorithm="x", file_path="/none")
    Rule.objects.create(name="big-amount", expression="amount > 90", risk_floor=90)

    def txn(name, when, channel, country, score, level, label, merchant, model, amount, **kw):
        return TransactionFactory(
            external_id=name,
            account_id=f"acct-{name}",
            occurred_at=when,
            channel=channel,
            country=country,
            risk_score=score,
            risk_level=level,
            is_fraud=label,
            merchant_id=merchant,
            model_version=model,
            amount=Decimal(amount),
            **kw,
        )

    rule_reason = [{"code": "rule:big-amount", "detail": "amount over 90", "weight": 10.0}]
    t = {
        "t1": txn(
            "t1",
            at(2, 10, 15),
            "web",
            "US",
            95,
            "critical",
            True,
            "m-a",
            v1,
            "100.00",
            reasons=rule_reason,
            latitude=40.7,
            longitude=-74.0,
        ),
        "t2": txn("t2", at(2, 10, 20), "web", "US", 20, "low", False, "m-a", v1, "50.00"),
        "t3": txn(
            "t3",
            at(2, 10, 40),
            "pos",
            "GB",
            75,
            "high",
            None,
            "m-b",
            v2,
            "200.00",
            latitude=51.5,
            longitude=-0.1,
            merchant_category="grocery",
        ),
        "t4": txn(
            "t4",
            at(2, 13),
            "web",
            "US",
            None,
            "",
            False,
            "m-c",
            None,
            "10.00",
            status=Transaction.Status.IMPORTED,
        ),
        "t5": txn("t5", at(3, 9), "web", "GB", 45, "medium", None, "m-c", v1, "300.00"),
        "t6": txn("t6", at(3, 7, 30), "web", "US", 80, "high", None, "m-d", v1, "40.00"),
    }

    def case(name, txn_name, priority, created, **fields):
        c = Case.objects.create(
            account_id=f"acct-{txn_name}",
            title=f"case {name}",
            priority=priority,
            risk_level=priority,
            risk_score=t[txn_name].risk_score,
        )
        CaseTransaction.objects.create(case=c, transaction=t[txn_name])
        Case.objects.filter(pk=c.pk).update(created_at=created, **fields)
        c.refresh_from_db()
        return c

    closed = Case.Status.CLOSED
    c = {
        "c1": case(
            "c1",
            "t1",
            "critical",
            at(2, 11),
            status=closed,
            closed_at=at(3, 11),
            disposition="fraud_confirmed",
            closed_by=ivy,
            due_at=at(2, 15),
        ),
        "c2": case(
            "c2",
            "t3",
            "high",
            at(2, 12),
            status=closed,
            closed_at=at(2, 18),
            disposition="legitimate",
            closed_by=ivy,
            due_at=at(3, 12),
        ),
        "c3": case(
            "c3",
            "t5",
            "medium",
            at(3, 9, 30),
            status=Case.Status.IN_REVIEW,
            assignee=ivy,
            due_at=at(3, 10),
        ),
        "c4": case(
            "c4",
            "t6",
            "high",
            at(3, 8),
            status=closed,
            closed_at=at(3, 18),
            disposition="inconclusive",
            closed_by=sam,
            closure_requested_by=mx,
            due_at=at(4, 8),
            escalated_at=at(3, 9),
        ),
    }

    def review(case_name, investigator, verdict, corrected=""):
        cs = c[case_name]
        return QAReview.objects.create(
            case=cs,
            closed_at=cs.closed_at,
            disposition=cs.disposition,
            risk_score=cs.risk_score,
            investigator=investigator,
            closed_by=cs.closed_by,
            sample_reason=QAReview.Reason.RANDOM,
            reviewer=sam,
            reviewed_at=cs.closed_at,
            evidence_reviewed=True,
            disposition_correct=verdict == "agree",
            note_adequate=True,
            verdict=verdict,
            corrected_disposition=corrected,
        )

    review("c1", ivy, "agree")
    review("c2", ivy, "overturn", "fraud_confirmed")
    review("c4", mx, "agree")
    return {"t": t, "c": c, "users": {"ivy": ivy, "max": mx, "sam": sam}}
