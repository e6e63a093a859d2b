"""The queue's keyboard in a real browser: the shortcuts overlay and j/k/x/Enter on the rows the
live refresh drew (issue 14: after a redraw the shortcuts pointed at the old, detached rows)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.factories import CaseFactory

from .conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def ivy(make_user):
    return make_user("investigator", "ivy")


def _cursor_href(page) -> str | None:
    rows = page.locator("#queue tbody tr.cursor")
    expect(rows).to_have_count(1)
    return rows.get_attribute("data-href")


def test_question_mark_lists_the_queue_shortcuts(new_page, ivy):
    CaseFactory()
    page = new_page()
    login(page, "ivy")
    page.locator("body").click(position={"x": 5, "y": 300})
    page.keyboard.press("?")
    dialog = page.locator("#shortcuts-help")
    expect(dialog).to_be_visible()
    for key in ("j", "k", "Enter", "x", "/", "n", "?"):
        expect(dialog.locator(f'kbd:text-is("{key}")')).to_have_count(1)
    expect(dialog).to_contain_text("Next case in the list")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()


def test_j_k_x_and_enter_work_on_the_rows_after_a_live_redraw(new_page, ivy):
    cases = [CaseFactory(risk_score=score) for score in (90, 80, 70)]
    page = new_page()
    login(page, "ivy")
    expect(page.locator("#queue tbody tr[data-href]")).to_have_count(3)
    page.locator("body").click(position={"x": 5, "y": 300})
    page.keyboard.press("j")
    page.keyboard.press("j")
    assert _cursor_href(page) == f"/cases/{cases[1].pk}/"

    newcomer = CaseFactory(risk_score=99)  # sorts first: every row moves down one
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")  # poll now
    expect(page.locator("#queue-live-badge")).to_have_text("1 new")
    expect(page.locator(f'#queue tbody tr[data-href="/cases/{newcomer.pk}/"]')).to_have_count(1)
    assert _cursor_href(page) == f"/cases/{cases[1].pk}/"  # still on the same case

    page.keyboard.press("j")
    assert _cursor_href(page) == f"/cases/{cases[2].pk}/"
    page.keyboard.press("k")
    page.keyboard.press("k")
    assert _cursor_href(page) == f"/cases/{cases[0].pk}/"
    page.keyboard.press("x")
    expect(
        page.locator(f'#queue tbody tr[data-href="/cases/{cases[0].pk}/"] input[name="cases"]')
    ).to_be_checked()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf"/cases/{cases[0].pk}/$"))
