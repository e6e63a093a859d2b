"""The case page's context and charts (issue 14 item 6): flagged transactions first and collapsed
after ten, the reasons summed up, the approval panel's facts, the account-actions slot, actions
redirecting without a fragment, and the SVG charts' axes and dodged dots."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.test import Client
from django.utils import timezone

from fraudcases import services
from fraudcases.models import Case, CaseTransaction
from fraudcases.templatetags.case_page import (
    burst_span,
    dodge,
    history_chart,
    log_ticks,
    time_ticks,
)
from fraudcases.views import cases as case_views
from tests.factories import CaseFactory, TransactionFactory

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _reasons(*codes: str) -> list[dict]:
    return [{"code": c, "detail": f"{c} detail", "weight": 0.1} for c in codes]


@pytest.fixture
def burst_case(db):
    """A critical case with 14 linked transactions: 4 unflagged (earliest), 10 flagged; minutes
    apart, after a month of ordinary history on the account."""
    now = timezone.now()
    case = CaseFactory(priority="critical", risk_level="critical", risk_score=95, transactions=0)
    for day in range(20):
        TransactionFactory(
            account_id=case.account_id,
            occurred_at=now - timedelta(days=30 - day),
            risk_level="low",
            risk_score=5,
            reasons=[],
        )
    for i in range(14):
        flagged = i >= 4
        txn = TransactionFactory(
            account_id=case.account_id,
            external_id=f"burst-{i:02d}",
            occurred_at=now - timedelta(minutes=30 - i),
            amount=Decimal("1.00"),
            risk_level="high" if flagged else "medium",
            risk_score=80 + i if flagged else 40 + i,
            reasons=_reasons("velocity", "new_merchant") if flagged else _reasons("velocity"),
        )
        CaseTransaction.objects.create(case=case, transaction=txn)
    return case


def _context(user, case: Case, **params):
    response = client_for(user).get(f"/cases/{case.pk}/", params)
    assert response.status_code == 200
    return response


def test_flagged_transactions_come_first_and_the_list_collapses_after_ten(people, burst_case):
    response = _context(people["inv"], burst_case)
    txns = response.context["transactions"]
    assert [t.flagged for t in txns] == [True] * 10 + [False] * 4
    assert [t.external_id for t in txns[:2]] == ["burst-04", "burst-05"]  # time order within
    assert (response.context["txn_rows_shown"], response.context["txn_hidden"]) == (10, 4)
    body = response.content.decode()
    assert body.count('class="txn-flagged"') == 10
    assert body.count("txn-more") == 4 and "Show all 14 (4 more)" in body
    summary = response.context["txn_summary"]
    assert (summary["count"], summary["flagged"], summary["total"]) == (14, 10, Decimal("14.00"))

    everything = _context(people["inv"], burst_case, txns="all")
    assert (everything.context["txn_rows_shown"], everything.context["txn_hidden"]) == (14, 0)
    assert "txns-toggle" not in everything.content.decode()


def test_reasons_are_summed_up_over_the_transactions(people, burst_case):
    reasons = _context(people["inv"], burst_case).context["reasons"]
    assert [(r["code"], r["count"]) for r in reasons] == [("velocity", 14), ("new_merchant", 10)]
    assert reasons[0]["label"] == "Burst of transactions"
    assert reasons[0]["detail"] == "velocity detail"


def test_approval_panel_shows_the_proposed_disposition_rationale_and_reasons(people, burst_case):
    services.case_close(
        case=burst_case,
        actor=people["inv"],
        disposition="fraud_confirmed",
        note="Customer confirmed the card was stolen on the 28th",
    )
    response = _context(people["sup"], burst_case)
    request = response.context["closure_request"]
    assert request["disposition"] == "Fraud confirmed"
    assert request["by"] == people["inv"]
    assert request["note"] == "Customer confirmed the card was stolen on the 28th"
    panel = re.search(
        r'<section class="panel approval".*?</section>', response.content.decode(), re.S
    )
    assert panel is not None
    for text in ("Fraud confirmed", "stolen on the 28th", "Burst of transactions (14/14)"):
        assert text in panel.group(0)
    assert "Approve closure" in panel.group(0)


def test_no_approval_panel_while_the_case_is_not_waiting_for_approval(people, burst_case):
    response = _context(people["sup"], burst_case)
    assert response.context["closure_request"] is None
    assert 'id="approval"' not in response.content.decode()


def test_account_actions_slot_includes_the_panel_only_when_it_exists(
    people, burst_case, monkeypatch, settings, tmp_path
):
    monkeypatch.setattr(case_views, "ACCOUNT_ACTIONS_TEMPLATE", "cases/_no_such_panel.html")
    missing = _context(people["inv"], burst_case)
    assert missing.context["account_actions_template"] is None

    (tmp_path / "cases").mkdir()
    (tmp_path / "cases" / "_page_test_panel.html").write_text(
        '<section id="account-actions-probe">{{ case.account_id }}</section>'
    )
    settings.TEMPLATES = [
        {**settings.TEMPLATES[0], "DIRS": [tmp_path, *settings.TEMPLATES[0]["DIRS"]]}
    ]
    monkeypatch.setattr(case_views, "ACCOUNT_ACTIONS_TEMPLATE", "cases/_page_test_panel.html")
    present = _context(people["inv"], burst_case)
    assert present.context["account_actions_template"] == "cases/_page_test_panel.html"
    assert f'<section id="account-actions-probe">{burst_case.account_id}</section>' in (
        present.content.decode()
    )


def test_an_action_redirects_to_the_page_without_a_fragment(people, burst_case):
    response = client_for(people["inv"]).post(
        f"/cases/{burst_case.pk}/note/", {"body": "Checked the device history."}
    )
    assert response.status_code == 302
    assert response["Location"] == f"/cases/{burst_case.pk}/"


def test_the_history_chart_labels_its_axes_and_spreads_a_burst(people, burst_case):
    body = _context(people["inv"], burst_case).content.decode()
    history = re.search(r'<svg class="chart history".*?</svg>', body, re.S).group(0)
    assert "Amount (USD, log scale)" in history
    assert "Time (UTC)" in history
    dots = re.findall(r'<circle cx="([\d.]+)" cy="([\d.]+)" r="4.5" class="pt-case"', history)
    assert len(dots) == 14
    points = [(float(x), float(y)) for x, y in dots]
    closest = min(
        ((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2) ** 0.5
        for i, a in enumerate(points)
        for b in points[i + 1 :]
    )
    assert closest >= 9  # two radii: no dot hides another
    burst = re.search(r'<svg class="chart burst".*?</svg>', body, re.S).group(0)
    assert burst.count("<circle") == 14 and "Amount (USD, log scale)" in burst
    assert "This case&#x27;s 14 transactions" in body


def _txn(minutes: float, amount: str, currency: str = "USD", level: str = "low"):
    return SimpleNamespace(
        occurred_at=timezone.now() - timedelta(minutes=minutes),
        amount=Decimal(amount),
        currency=currency,
        risk_level=level,
        risk_score=None,
        merchant_id="m",
    )


def test_the_amount_axis_names_mixed_currencies():
    svg = history_chart([_txn(60 * 24 * 3, "10"), _txn(5, "2500", "EUR")])
    assert "Amount (EUR, USD; log scale)" in svg and "Time (UTC)" in svg


def test_log_ticks_are_round_amounts_within_the_range():
    assert log_ticks(0.5, 1450) == [1.0, 10.0, 100.0, 1000.0]
    assert log_ticks(3, 40) == [5.0, 10.0, 20.0]


def test_dodge_moves_overlapping_dots_sideways_only_as_far_as_needed():
    xs = dodge([100.0] * 5, [50.0] * 5, radius=4, lo=0, hi=1000)
    assert xs[0] == 100.0
    assert sorted(xs) == [82.0, 91.0, 100.0, 109.0, 118.0]
    apart = dodge([100.0, 300.0], [50.0, 50.0], radius=4, lo=0, hi=1000)
    assert apart == [100.0, 300.0]  # nothing to move


def test_a_burst_strip_is_drawn_only_for_a_burst():
    month = [_txn(60 * 24 * d, "20") for d in range(1, 30)]
    burst = [_txn(m, "1") for m in (3, 2, 1)]
    assert burst_span(burst, month) is not None
    spread = [_txn(60 * 24 * d, "1") for d in (2, 10, 20)]
    assert burst_span(spread, month) is None
    assert burst_span(burst[:2], month) is None  # two are not a burst


def test_time_ticks_fall_on_round_times():
    assert time_ticks(100.0, 460.0) == [120.0, 180.0, 240.0, 300.0, 360.0, 420.0]
    day = 86_400
    ticks = time_ticks(0.5 * day, 29.5 * day)
    assert ticks == [7 * day, 14 * day, 21 * day, 28 * day]
    # Local midnight in a zone two hours ahead of UTC is 22:00 UTC.
    assert time_ticks(0.5 * day, 5.5 * day, offset=7200) == [n * day - 7200 for n in range(1, 6)]
