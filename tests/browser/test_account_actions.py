"""Account actions in a real browser: an investigator requests "hold payments" on the case page,
a supervisor finds it on /supervisor/ and approves it on the case page, the signed webhook
reaches a real local receiver, and the case page shows it delivered."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from alerts.models import Delivery
from alerts.services import channel_create
from fraudcases.models import AccountAction
from tests.alerts.helpers import Receiver, run_until_final
from tests.cases.helpers import last_event_id, route_since
from tests.factories import CaseFactory

from .conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


def test_request_and_approve_from_the_case_page(new_page, make_user, receiver, shot):
    make_user("investigator", "ivy")
    make_user("supervisor", "sam")
    channel_create(
        actor=make_user("admin", "ada"),
        name="core-banking",
        kind="webhook",
        target=f"{receiver.url}/core",
        secret="whsec-browser-0123456789",
    )
    case = CaseFactory(transactions=2)

    ivy = new_page()
    login(ivy, "ivy")
    ivy.goto(f"/cases/{case.pk}/")
    panel = ivy.locator("#account-actions")
    expect(panel.locator("#account-actions-empty")).to_be_visible()
    panel.get_by_text("Request an account action…").click()
    panel.get_by_label("Action").select_option("hold_payments")
    reason = panel.get_by_label("Reason for the request (required)")
    reason.fill("Mule pattern: hold outgoing payments")
    panel.get_by_role("button", name="Request").click()
    row = ivy.locator("#account-actions-list li[data-status]")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Hold payments")
    expect(row).to_contain_text("Awaiting approval")
    expect(panel.get_by_role("button", name="Approve hold payments")).to_have_count(0)
    shot(ivy, "account-action-requested")
    action = AccountAction.objects.get()
    since = last_event_id()

    sam = new_page()
    login(sam, "sam")
    sam.goto("/supervisor/")
    pending = sam.locator(f'#account-actions-pending tr[data-account-action="{action.pk}"]')
    expect(pending).to_contain_text("ivy")
    pending.get_by_role("link", name=f"#{case.pk}").click()
    sam.locator("#account-actions").get_by_role("button", name="Approve hold payments").click()
    expect(sam.locator(f"#account-action-{action.pk}")).to_contain_text("on its way")

    # What the alerts worker does after the approval commits: route it and deliver it.
    (delivery,) = route_since(since)
    assert run_until_final(delivery).status == Delivery.Status.SENT
    (request,) = receiver.requests
    assert request.json()["account_action"]["idempotency_key"] == str(action.idempotency_key)
    sam.reload()
    expect(sam.locator(f"#account-action-{action.pk}")).to_contain_text("Delivered to core banking")
    shot(sam, "account-action-delivered")
