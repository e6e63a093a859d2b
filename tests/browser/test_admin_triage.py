"""An investigator triages in the Django admin: an admin action runs the workflow service, and
the case's timeline on /cases/<id>/ shows the audited event."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from core.models import AuditEvent
from fraudcases.models import Case
from tests.factories import CaseFactory

from .conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_investigator_escalates_from_the_admin_and_the_timeline_shows_it(new_page, make_user, shot):
    make_user("investigator", "ivy")
    case = CaseFactory(priority="high", risk_score=82)
    page = new_page()
    login(page, "ivy")

    page.goto("/admin/fraudcases/case/")
    expect(page.get_by_role("link", name=str(case.pk), exact=True)).to_be_visible()
    actions = page.locator("select[name=action] option")
    labels = actions.all_inner_texts()
    assert "Escalate…" in labels and "Assign to me" in labels
    assert not any(label.startswith(("Approve", "Reopen")) for label in labels)  # supervisors'
    page.locator(f"input[name=_selected_action][value='{case.pk}']").check()
    page.locator("select[name=action]").select_option(label="Escalate…")
    page.get_by_role("button", name="Go").click()

    expect(page.get_by_text("Escalate… — 1 selected")).to_be_visible()
    page.get_by_label("Reason").fill("Same device as last week's mule ring.")
    shot(page, "admin-escalate-form")
    page.get_by_role("button", name="Escalate…").click()
    page.wait_for_url(re.compile(r"/admin/fraudcases/case/"))
    expect(page.get_by_text("Escalated to the supervisors.")).to_be_visible()

    case.refresh_from_db()
    assert case.status == Case.Status.ESCALATED
    event = AuditEvent.objects.get(case=case, action="case.escalate")
    assert event.actor_label == "user:ivy" and "mule ring" in event.note

    page.goto(f"/cases/{case.pk}/")
    expect(page.locator("#case-status")).to_have_text("Escalated")
    timeline = page.locator("#timeline")
    expect(timeline.get_by_text("case.escalate")).to_be_visible()
    expect(timeline.get_by_text("Same device as last week's mule ring.")).to_be_visible()
    shot(page, "admin-escalate-timeline")


def test_a_refused_admin_action_is_a_message_and_changes_nothing(new_page, make_user):
    make_user("investigator", "ivy")
    other = make_user("investigator", "olga")
    case = CaseFactory(assignee=other)
    page = new_page()
    login(page, "ivy")
    page.goto("/admin/fraudcases/case/")
    page.locator(f"input[name=_selected_action][value='{case.pk}']").check()
    page.locator("select[name=action]").select_option(label="Start review")
    page.get_by_role("button", name="Go").click()
    expect(page.get_by_text("This case is assigned to someone else.")).to_be_visible()
    case.refresh_from_db()
    assert case.status == Case.Status.NEW
    assert not AuditEvent.objects.filter(case=case).exists()
