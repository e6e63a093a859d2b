"""The dashboard in real Chromium: charts drawn from the embedded data, a filter change redraws
them (and goes into the URL), a case report PDF downloads; a screenshot is kept as a test
artifact (``test-artifacts/dashboard.png``, or ``$TEST_ARTIFACTS_DIR``)."""

from __future__ import annotations

import io
import os
import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from playwright.sync_api import expect
from pypdf import PdfReader

from core.models import AuditEvent
from fraudcases.models import Case, CaseTransaction
from scoring.models import ModelVersion
from tests.factories import TransactionFactory

from .conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS_DIR", settings.BASE_DIR / "test-artifacts"))


@pytest.fixture
def activity(make_user):
    """Two channels over the last days: 6 web and 3 pos transactions, two cases."""
    cache.clear()  # chart rows are cached per filter set (another test may have filled it)
    make_user("supervisor", "sam")
    ivy = make_user("investigator", "ivy")
    model = ModelVersion.objects.create(version="v-browser", algorithm="x", file_path="/none")
    now = timezone.now()
    web = [
        TransactionFactory(
            account_id=f"acct-web-{i}",
            channel="web",
            occurred_at=now - timedelta(days=i % 3, hours=2),
            risk_score=30 + 10 * i,
            risk_level="high" if i >= 4 else "low",
            model_version=model,
            latitude=48.8,
            longitude=2.3,
            amount=Decimal("250.00"),
        )
        for i in range(6)
    ]
    pos = [
        TransactionFactory(
            account_id=f"acct-pos-{i}",
            channel="pos",
            occurred_at=now - timedelta(days=1, hours=i),
            risk_score=92,
            risk_level="critical",
            model_version=model,
            amount=Decimal("990.00"),
        )
        for i in range(3)
    ]
    open_case = Case.objects.create(
        account_id=pos[0].account_id,
        title="Card testing at a POS terminal",
        priority="critical",
        risk_level="critical",
        risk_score=92,
        due_at=now + timedelta(hours=3),
        assignee=ivy,
    )
    CaseTransaction.objects.create(case=open_case, transaction=pos[0])
    closed = Case.objects.create(
        account_id=web[5].account_id,
        title="Web velocity",
        priority="high",
        risk_level="high",
        risk_score=80,
        status=Case.Status.CLOSED,
        disposition="fraud_confirmed",
        closed_at=now - timedelta(hours=1),
        closed_by=ivy,
    )
    CaseTransaction.objects.create(case=closed, transaction=web[5])
    Case.objects.filter(pk=closed.pk).update(created_at=now - timedelta(hours=7))
    return {"web": web, "pos": pos, "open_case": open_case}


def series_sum(page, chart: str, index: int = 0) -> float:
    return page.evaluate(
        """([name, index]) => {
            const inst = echarts.getInstanceByDom(document.getElementById("chart-" + name));
            return inst.getOption().series[index].data.reduce((a, b) => a + (b || 0), 0);
        }""",
        [chart, index],
    )


def test_dashboard_filters_redraw_the_charts_and_a_case_pdf_downloads(new_page, activity):
    page = new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    login(page, "sam")
    page.goto("/dashboard/")
    expect(page.get_by_role("heading", name="Dashboard", exact=True)).to_be_visible()
    volume = page.locator("#chart-volume")
    expect(volume).to_have_attribute("data-rows", "30")
    expect(page.locator("#chart-map")).to_have_attribute("data-rows", re.compile(r"^[1-9]"))
    assert series_sum(page, "volume") == 9  # all transactions of the range
    expect(page.locator("[data-tile=open_cases]")).to_have_text("1")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

    page.get_by_label("Channel").fill("pos")
    page.get_by_label("Channel").press("Tab")  # a change event: the charts reload
    expect(page.locator("#dashboard")).to_have_attribute("data-query", re.compile("channel=pos"))
    assert series_sum(page, "volume") == 3
    assert series_sum(page, "volume", 1) > 0  # the flagged-rate line: every pos one is flagged
    assert "channel=pos" in page.url
    expect(page.locator("a[data-csv=volume]")).to_have_attribute(
        "href", re.compile(r"/dashboard/volume\.csv\?.*channel=pos")
    )
    expect(page.locator("#data-volume tbody tr")).to_have_count(30)

    page.get_by_label("Country").fill("X1")
    page.get_by_label("Country").press("Tab")
    expect(page.locator("#filter-errors")).to_contain_text("country")
    page.get_by_label("Country").fill("")
    page.get_by_label("Country").press("Tab")
    expect(page.locator("#filter-errors")).to_be_empty()

    page.goto(page.url)  # the URL carries the filters: a shared link shows the same view
    expect(page.get_by_label("Channel")).to_have_value("pos")
    expect(volume).to_have_attribute("data-rows", "30")
    assert series_sum(page, "volume") == 3

    case = activity["open_case"]
    row = page.locator("#table-open_at_risk tbody tr", has_text=f"#{case.pk}")
    with page.expect_download() as info:
        row.get_by_role("link", name="PDF").click()
    download = info.value
    assert download.suggested_filename == f"case-{case.pk}-report.pdf"
    reader = PdfReader(io.BytesIO(Path(download.path()).read_bytes()))
    text = "\n".join(p.extract_text() for p in reader.pages)
    assert f"Case #{case.pk}" in text and activity["pos"][0].external_id in text
    assert AuditEvent.objects.filter(action="case.report", case=case, actor_label="user:sam")
    assert errors == []
