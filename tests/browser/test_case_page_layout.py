"""Issue 14 item 6 in a real browser: the case page fits a screen.

The fixture is the issue's example, a 17-transaction card-testing case (14 tiny card-not-present
charges at web shops minutes apart, two more probes and the cash-out purchase) on an account
with a month of ordinary history. Set ``BROWSER_SCREENSHOTS=test-artifacts`` to keep the
screenshots and the page heights (``case-page-metrics.json``) for a look.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from fraudcases import services
from fraudcases.models import Case, CaseTransaction
from tests.factories import CaseFactory, TransactionFactory

from .conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENS = {"laptop": (1366, 768), "desktop": (1920, 1080)}
ARTIFACTS = os.environ.get("BROWSER_SCREENSHOTS")


def _reasons(*pairs: tuple[str, str]) -> list[dict]:
    return [{"code": code, "detail": detail, "weight": 0.2} for code, detail in pairs]


def card_testing_case(investigator) -> Case:
    """The issue's case: 17 linked transactions, 6 of them not flagged and earliest in time (so
    "flagged first" differs from the time order), and 45 ordinary ones over the month before."""
    account = "acct-cardtest"
    now = timezone.now()
    for i in range(45):
        TransactionFactory(
            account_id=account,
            occurred_at=now - timedelta(days=30 - i * 0.65, hours=i % 5),
            amount=Decimal(12 + (i * 37) % 170),
            merchant_id=f"grocer-{i % 4}",
            channel="pos",
            device_id="",
            risk_score=3 + i % 9,
            risk_level="low",
            reasons=[],
        )
    case = CaseFactory(
        account_id=account,
        title=f"High risk on {account}: card testing",
        priority="critical",
        risk_level="critical",
        risk_score=96.4,
        transactions=0,
    )
    burst = now - timedelta(hours=2)
    for i in range(17):
        flagged = i >= 6
        big = i == 16
        txn = TransactionFactory(
            account_id=account,
            external_id=f"ct-{i:02d}",
            occurred_at=burst + timedelta(seconds=40 * i),
            amount=Decimal("1450.00") if big else Decimal("0.50") + Decimal(i % 5) / 2,
            merchant_id=f"webshop-{i}",
            merchant_category="electronics" if big else "digital_goods",
            device_id="dev-bot",
            risk_score=(96.4 if big else 70 + i) if flagged else 30 + i,
            risk_level=("critical" if big or i > 12 else "high") if flagged else "medium",
            reasons=_reasons(
                ("velocity", f"{i} earlier transactions in the last hour (usually 2 a day)"),
                ("new_merchant", f"first purchase at webshop-{i}"),
                ("amount_unusual", "1,450.00 USD is 14x the usual 104.00")
                if big
                else ("channel", "card not present, first web purchase in 30 days"),
            ),
        )
        CaseTransaction.objects.create(case=case, transaction=txn)
    services.case_start_review(case=case, actor=investigator)
    for body in (
        "Called the customer: **no answer**. Card blocked pending contact.",
        "Merchant webshop-16 confirms the order ships to a freight forwarder.",
    ):
        services.case_note_add(case=case, actor=investigator, body=body)
    return Case.objects.get(pk=case.pk)


@pytest.fixture
def ivy(make_user):
    return make_user("investigator", "ivy")


def _open(new_page, case: Case, size: tuple[int, int], user: str = "ivy"):
    page = new_page()
    page.set_viewport_size({"width": size[0], "height": size[1]})
    login(page, user)
    page.goto(f"/cases/{case.pk}/")
    return page


def _in_first_viewport(page, selector: str) -> bool:
    """The element's box lies inside the first screen (scrollY 0, no scrolling)."""
    box = page.locator(selector).first.bounding_box()
    height = page.viewport_size["height"]
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= height


def _keep(page, name: str, metrics: dict | None = None) -> None:
    if not ARTIFACTS:
        return
    target = Path(ARTIFACTS)
    target.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target / f"{name}.png"))
    page.screenshot(path=str(target / f"{name}-full.png"), full_page=True)
    if metrics is not None:
        store = target / "case-page-metrics.json"
        known = json.loads(store.read_text()) if store.exists() else {}
        known[name] = metrics
        store.write_text(json.dumps(known, indent=2, sort_keys=True) + "\n")


@pytest.mark.parametrize("screen", sorted(SCREENS))
def test_summary_reasons_and_actions_are_in_the_first_viewport(new_page, ivy, screen):
    case = card_testing_case(ivy)
    page = _open(new_page, case, SCREENS[screen])
    height = page.evaluate("document.documentElement.scrollHeight")
    _keep(page, f"case-page-{screen}", {"page_height_px": height, "viewport": SCREENS[screen]})
    for selector in ("#case-summary", "#case-reasons", "#actions", "#case-status"):
        assert _in_first_viewport(page, selector), selector
    # The first evidence rows are on the first screen too, beside the summary.
    assert _in_first_viewport(page, "#txn-table tbody tr >> nth=0")


def _visible_rows(page) -> list[str]:
    return page.eval_on_selector_all(
        "#txn-table tbody tr", "rows => rows.filter(r => !r.hidden).map(r => r.dataset.flagged)"
    )


def test_transactions_collapse_after_ten_rows_flagged_first(new_page, ivy):
    case = card_testing_case(ivy)
    page = _open(new_page, case, SCREENS["laptop"])
    assert _visible_rows(page) == ["1"] * 10  # 11 flagged: the first ten, none of the others
    toggle = page.locator("#txns-toggle")
    expect(toggle).to_have_text("Show all 17 (7 more)")
    page.evaluate("window.__noReload = true")
    toggle.click()
    assert _visible_rows(page) == ["1"] * 11 + ["0"] * 6
    expect(toggle).to_have_attribute("aria-expanded", "true")
    assert page.evaluate("window.__noReload") is True  # revealed in place
    toggle.click()
    assert len(_visible_rows(page)) == 10
    page.goto(f"/cases/{case.pk}/?txns=all")  # the link's target, without the script
    assert len(_visible_rows(page)) == 17
    expect(page.locator("#txns-toggle")).to_have_count(0)


def test_history_chart_has_labelled_axes_and_a_burst_is_not_one_stack(new_page, ivy):
    case = card_testing_case(ivy)
    page = _open(new_page, case, SCREENS["desktop"])
    history = page.locator("svg.chart.history")
    expect(history.locator(".y-label")).to_have_text("Amount (USD, log scale)")
    expect(history.locator(".x-label")).to_have_text("Time (UTC)")
    assert history.locator(".tick").count() >= 6
    boxes = [
        history.locator("circle.pt-case").nth(i).bounding_box()
        for i in range(history.locator("circle.pt-case").count())
    ]
    assert len(boxes) == 17
    centres = {(round(b["x"] + b["width"] / 2), round(b["y"] + b["height"] / 2)) for b in boxes}
    assert len(centres) == 17  # no two dots on the same spot
    burst = page.locator("svg.chart.burst")
    expect(burst.locator("circle")).to_have_count(17)
    expect(page.locator("#burst-title")).to_contain_text("This case's 17 transactions")
    xs = {round(burst.locator("circle").nth(i).bounding_box()["x"]) for i in range(17)}
    assert len(xs) >= 15  # 40 s apart: spread over the strip's own minutes
    if ARTIFACTS:
        page.locator("#history").screenshot(path=str(Path(ARTIFACTS) / "case-page-history.png"))


def test_an_action_keeps_the_scroll_position_and_the_status_in_view(new_page, ivy):
    case = card_testing_case(ivy)
    page = _open(new_page, case, SCREENS["laptop"])
    page.locator("#id_body").scroll_into_view_if_needed()
    before = page.evaluate("window.scrollY")
    assert before > 800  # well down the evidence column
    page.locator("#id_body").fill("Device dev-bot seen on two other accounts.")
    page.get_by_role("button", name="Add note").click()
    expect(page.locator("#notes")).to_contain_text("Device dev-bot seen on two other accounts.")
    assert "#" not in page.url
    page.wait_for_function(f"Math.abs(window.scrollY - {before}) < 5")
    # The message and the status are in the sticky column, on screen.
    expect(page.locator("#case-flash .messages")).to_contain_text("Note added")
    assert _in_viewport_now(page, "#case-flash .messages")
    assert _in_viewport_now(page, "#case-summary")

    page.locator("#action-escalate summary").click()
    page.locator("#esc-reason").fill("Same device as a known mule")
    page.get_by_role("button", name="Escalate", exact=True).click()
    expect(page.locator("#case-summary")).to_contain_text("Escalated")
    page.wait_for_function(f"Math.abs(window.scrollY - {before}) < 5")
    expect(page.locator("#case-flash .messages")).to_contain_text("Escalated")
    assert _in_viewport_now(page, "#case-flash .messages")
    assert _in_viewport_now(page, "#case-summary")
    _keep(page, "case-page-after-escalate")


def _in_viewport_now(page, selector: str) -> bool:
    return page.eval_on_selector(
        selector,
        "el => { const r = el.getBoundingClientRect();"
        " return r.top >= 0 && r.bottom <= window.innerHeight && r.height > 0; }",
    )


def test_approval_panel_shows_disposition_rationale_and_reasons(new_page, ivy, make_user):
    make_user("supervisor", "sam")
    case = card_testing_case(ivy)
    services.case_close(
        case=case,
        actor=ivy,
        disposition="fraud_confirmed",
        note="Bot run at 14 web shops, then a 1,450 USD laptop: the customer denies all of it.",
    )
    page = _open(new_page, case, SCREENS["laptop"], user="sam")
    panel = page.locator("#approval")
    expect(panel.locator("#approval-disposition")).to_have_text("Fraud confirmed")
    expect(panel.locator("#approval-note")).to_have_text(
        "Bot run at 14 web shops, then a 1,450 USD laptop: the customer denies all of it."
    )
    expect(panel.locator("#approval-reasons")).to_contain_text("Burst of transactions (17/17)")
    expect(panel).to_contain_text("ivy")
    assert _in_first_viewport(page, "#approval")
    _keep(page, "case-page-approval")
    page.get_by_label("Approve closure as Fraud confirmed").fill("Agreed.")
    page.get_by_role("button", name="Approve closure").click()
    expect(page.locator("#case-status")).to_have_text("Closed")
    expect(page.locator("#approval")).to_have_count(0)


def test_question_mark_lists_the_case_page_shortcuts(new_page, ivy):
    case = card_testing_case(ivy)
    page = _open(new_page, case, SCREENS["laptop"])
    help_dialog = page.locator("#shortcuts-help")
    expect(help_dialog).to_have_count(0)
    page.keyboard.press("?")
    expect(help_dialog).to_be_visible()
    for key, label in (("e", "Escalate…"), ("n", "Write a note"), ("t", "Show all transactions")):
        expect(
            help_dialog.locator("tr", has=page.locator(f'kbd:text-is("{key}")'))
        ).to_contain_text(label)
    _keep(page, "case-page-shortcuts")
    page.keyboard.press("Escape")
    expect(help_dialog).to_be_hidden()
    page.keyboard.press("e")
    expect(page.locator("#action-escalate")).to_have_attribute("open", "")
    expect(page.locator("#esc-reason")).to_be_focused()
    page.keyboard.type("?")  # typing in a field is text, not a shortcut
    expect(help_dialog).to_be_hidden()
    expect(page.locator("#esc-reason")).to_have_value("?")
