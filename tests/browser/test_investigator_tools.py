"""Issue 14 (filters) in a real browser: the live queue, snooze and merge, the entity graph."""

from __future__ import annotations

import json
import re
import urllib.request
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from fraudcases.models import Case, CaseTransaction
from scoring.models import Rule
from tests.factories import CaseFactory, TransactionFactory

from .conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def ivy(make_user):
    return make_user("investigator", "ivy")


def _post_json(url: str, body: dict, key: str) -> dict:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Api-Key {key}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_a_case_posted_through_the_api_appears_in_the_queue_without_reload(
    new_page, ivy, live_server, api_key, champion
):
    Rule.objects.create(name="huge", expression="amount > 5000", risk_floor=97, reason="Huge")
    CaseFactory()
    page = new_page()
    login(page, "ivy")
    expect(page.locator("#queue tbody tr")).to_have_count(1)
    page.evaluate("window.__noReload = true")
    result = _post_json(
        f"{live_server.url}/api/v1/transactions/score",
        {
            "external_id": "live-queue-1",
            "account_id": "acct-live",
            "amount": "9000.00",
            "currency": "USD",
            "occurred_at": timezone.now().isoformat(),
            "merchant_id": "m-live",
        },
        api_key[1],
    )
    assert result["case_id"], result
    row = page.locator(f'#queue tbody tr[data-href="/cases/{result["case_id"]}/"]')
    expect(row).to_have_count(1, timeout=30_000)  # the 10 s poll brings it
    expect(page.locator("#queue-live-badge")).to_have_text("1 new")
    assert page.evaluate("window.__noReload") is True  # the same document: no reload


def test_snooze_wake_and_merge_through_the_case_page(new_page, ivy):
    target = CaseFactory()
    source = CaseFactory(account_id=target.account_id, trigger="manual")
    page = new_page()
    login(page, "ivy")
    page.goto(f"/cases/{source.pk}/")
    page.locator("#action-snooze summary").click()
    until = (timezone.now() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    page.locator("#action-snooze [name=until]").fill(until)
    page.locator("#action-snooze [name=reason]").fill("Waiting for the merchant")
    page.locator("#action-snooze button[type=submit]").click()
    expect(page.locator("#case-snoozed")).to_contain_text("Waiting for the merchant")
    page.goto("/cases/")
    expect(page.locator(f'#queue tbody tr[data-href="/cases/{source.pk}/"]')).to_have_count(0)
    page.goto(f"/cases/{source.pk}/")
    page.locator("#action-wake summary").click()
    page.locator("#action-wake button[type=submit]").click()
    expect(page.locator("#case-snoozed")).to_have_count(0)

    page.locator("#action-merge summary").click()
    page.locator("#action-merge [name=into]").fill(str(target.pk))
    page.locator("#action-merge [name=note]").fill("Same card-testing burst")
    page.locator("#action-merge button[type=submit]").click()
    expect(page.locator("#case-merged-into")).to_contain_text(f"case #{target.pk}")
    page.locator("#case-merged-into a").click()
    page.wait_for_url(re.compile(rf"/cases/{target.pk}/$"))
    expect(page.get_by_text(f"Case #{source.pk} merged into this one").first).to_be_visible()
    source.refresh_from_db()
    assert source.disposition == Case.Disposition.MERGED


def test_the_entity_graph_renders(new_page, ivy):
    cases = []
    for i in range(5):
        case = CaseFactory(account_id=f"ring-{i}", transactions=0)
        txn = TransactionFactory(account_id=f"ring-{i}", device_id="dev-ring")
        CaseTransaction.objects.create(case=case, transaction=txn)
        cases.append(case)
    page = new_page()
    login(page, "ivy")
    page.goto(f"/cases/{cases[0].pk}/")
    expect(page.locator("#case-graph-status")).to_contain_text("5 accounts")
    canvas = page.locator("#case-graph canvas").first
    expect(canvas).to_be_visible()
    painted = page.evaluate(
        """() => {
          const c = document.querySelector('#case-graph canvas');
          const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
          let n = 0;
          for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n++;
          return n;
        }"""
    )
    assert painted > 500
    assert int(page.locator("#case-graph").get_attribute("data-nodes")) >= 11
