"""The main journeys in a real browser: investigator, supervisor (four-eyes), auditor."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from core.models import AuditEvent
from fraudcases.models import Case
from tests.factories import CaseFactory, TransactionFactory

from .conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def team(make_user):
    return {
        "investigator": make_user("investigator", "ivy"),
        "supervisor": make_user("supervisor", "sam"),
        "auditor": make_user("auditor", "aud"),
    }


def _history(case: Case, n: int = 12) -> None:
    """Ordinary earlier activity of the case's account, spread over two weeks."""
    for i in range(n):
        TransactionFactory(
            account_id=case.account_id,
            occurred_at=timezone.now() - timedelta(days=14 - i, hours=i),
            risk_score=5 + i,
            risk_level="high" if i == 7 else "low",
            amount=20 + 15 * i,
        )


def test_investigator_takes_next_case_notes_and_escalates(new_page, team, shot):
    low = CaseFactory(priority="medium", risk_score=55)
    top = CaseFactory(priority="critical", risk_level="critical", risk_score=96, transactions=2)
    _history(top)
    page = new_page()
    login(page, "ivy")
    expect(page.get_by_role("heading", name="Case queue")).to_be_visible()
    expect(page.locator("#queue tbody tr")).to_have_count(2)
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Next case")).to_be_visible()
    expect(nav.get_by_role("link", name="Audit")).to_have_count(0)
    expect(nav.get_by_role("link", name="Supervisor")).to_have_count(0)
    shot(page, "queue-investigator")

    page.get_by_role("button", name="Take next case").click()
    page.wait_for_url(re.compile(rf"/cases/{top.pk}/$"))
    expect(page.locator("#case-status")).to_have_text("In review")
    expect(page.locator("#case-assignee")).to_have_text("ivy")
    expect(page.get_by_text("9 earlier transactions in the last hour").first).to_be_visible()
    expect(page.locator("svg.chart circle.pt-case")).to_have_count(2)

    page.get_by_label("Add a note (markdown)").fill("Called the customer: **no answer**.")
    page.get_by_role("button", name="Add note").click()
    expect(page.locator("#notes strong", has_text="no answer")).to_be_visible()

    page.get_by_text("Escalate…").click()
    page.get_by_label("Reason (required)").fill("Device shared with a known mule account")
    page.get_by_role("button", name="Escalate", exact=True).click()
    expect(page.locator("#case-status")).to_have_text("Escalated")
    timeline = page.locator("#timeline")
    for action in ("case.claim", "case.note", "case.escalate"):
        expect(timeline.get_by_text(action, exact=True)).to_be_visible()
    expect(page.get_by_text("Escalate…")).to_have_count(0)  # not offered any more
    shot(page, "case-detail-escalated")
    top.refresh_from_db()
    assert top.status == Case.Status.ESCALATED and top.assignee == team["investigator"]
    low.refresh_from_db()
    assert low.assignee is None


def test_supervisor_sees_escalation_and_approves_a_four_eyes_closure(new_page, team, shot):
    escalated = CaseFactory(priority="high")
    critical = CaseFactory(priority="critical", risk_level="critical", risk_score=97)
    _history(critical)

    inv = new_page()
    login(inv, "ivy")
    inv.goto(f"/cases/{escalated.pk}/")
    inv.get_by_text("Escalate…").click()
    inv.get_by_label("Reason (required)").fill("Needs a supervisor's eye")
    inv.get_by_role("button", name="Escalate", exact=True).click()
    expect(inv.locator("#case-status")).to_have_text("Escalated")

    inv.goto(f"/cases/{critical.pk}/")
    inv.get_by_text("Close…").click()
    inv.get_by_label("Disposition").select_option("fraud_confirmed")
    inv.get_by_label("Closing note (required)").fill("Customer confirmed the card was stolen")
    inv.get_by_role("button", name="Close case").click()
    expect(inv.locator("#case-status")).to_have_text("Pending approval")
    expect(inv.get_by_role("status").first).to_contain_text("four-eyes")
    expect(inv.get_by_role("button", name="Approve closure")).to_have_count(0)

    sup = new_page()
    login(sup, "sam")
    sup.get_by_role("navigation", name="Main").get_by_role("link", name="Supervisor").click()
    expect(sup.locator("#escalated")).to_contain_text(escalated.account_id)
    expect(sup.locator("#escalated")).to_contain_text("Needs a supervisor's eye")
    expect(sup.locator("#pending")).to_contain_text(critical.account_id)
    expect(sup.locator("#pending")).to_contain_text("ivy")
    shot(sup, "supervisor")
    sup.locator("#pending").get_by_role("link", name=f"#{critical.pk}").click()
    sup.get_by_label(re.compile("Approve closure as Fraud confirmed")).fill("Agreed.")
    sup.get_by_role("button", name="Approve closure").click()
    expect(sup.locator("#case-status")).to_have_text("Closed")
    expect(sup.locator("#timeline")).to_contain_text("case.approve")
    expect(sup.get_by_text("Reopen…")).to_be_visible()
    shot(sup, "case-detail-closed")

    sup.get_by_role("navigation", name="Main").get_by_role("link", name="Dashboard").click()
    expect(sup.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(sup.locator("[data-tile=precision]")).to_have_text("100.0%")  # docs/reporting.md
    shot(sup, "dashboard")
    critical.refresh_from_db()
    assert critical.status == Case.Status.CLOSED and critical.closed_by == team["supervisor"]


def test_auditor_sees_the_trail_and_cannot_act(new_page, team, shot):
    case = CaseFactory(priority="high")
    from fraudcases import services

    services.case_escalate(case=case, actor=team["investigator"], reason="Odd velocity")
    events_before = AuditEvent.objects.count()

    page = new_page()
    login(page, "aud")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Next case")).to_have_count(0)
    expect(page.get_by_role("button", name="Take next case")).to_have_count(0)
    expect(page.locator("#select-all")).to_have_count(0)

    nav.get_by_role("link", name="Audit").click()
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    expect(page.locator("table.audit")).to_contain_text("case.escalate")
    expect(page.locator("table.audit")).to_contain_text("user:ivy")
    page.get_by_label("Case #").fill(str(case.pk))
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("table.audit tbody tr")).to_have_count(1)
    shot(page, "audit")
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    assert "case.escalate" in Path(download.value.path()).read_text()

    page.goto(f"/cases/{case.pk}/")
    expect(page.locator("#no-actions")).to_be_visible()
    expect(page.locator("#actions form")).to_have_count(0)
    expect(page.locator("#timeline")).to_contain_text("Odd velocity")
    shot(page, "case-detail-auditor")

    # A forged POST (with a valid CSRF token) is refused too.
    status = page.evaluate(
        """async (url) => {
            const token = document.cookie.split('; ')
                .find(c => c.startsWith('csrftoken=')).split('=')[1];
            const body = new URLSearchParams({reason: 'sneaky'});
            const r = await fetch(url, {method: 'POST', body, headers: {'X-CSRFToken': token}});
            return r.status;
        }""",
        f"/cases/{case.pk}/escalate/",
    )
    assert status == 403
    page.goto("/cases/next/")
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    case.refresh_from_db()
    assert case.status == Case.Status.ESCALATED
    # Only the sign-in and the CSV export were recorded.
    new = AuditEvent.objects.order_by("id")[events_before:]
    assert [e.action for e in new] == ["auth.login", "audit.export"]


def test_queue_is_usable_with_the_keyboard(new_page, team):
    first = CaseFactory(priority="critical", risk_score=95)
    CaseFactory(priority="low", risk_score=71)
    page = new_page()
    login(page, "ivy")
    page.keyboard.press("/")
    expect(page.locator("#queue-search")).to_be_focused()
    page.keyboard.type(first.account_id)
    page.keyboard.press("Enter")
    expect(page.locator("#queue tbody tr")).to_have_count(1)
    page.locator("body").click(position={"x": 5, "y": 300})
    page.keyboard.press("j")
    expect(page.locator("#queue tbody tr.cursor")).to_have_count(1)
    page.keyboard.press("x")
    expect(page.locator('#queue tbody input[name="cases"]')).to_be_checked()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf"/cases/{first.pk}/$"))
