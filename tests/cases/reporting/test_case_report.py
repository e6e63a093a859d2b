"""The case report PDF parsed back with pypdf, and the suspicious-activity export."""

from __future__ import annotations

import hashlib
import io
import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from pypdf import PdfReader

from core.models import AuditEvent
from fraudcases import services
from fraudcases.models import Case
from tests.factories import CaseFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def worked_case(make_user, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "private"
    ivy = make_user("investigator", "ivy")
    sam = make_user("supervisor", "sam")
    case = CaseFactory(risk_score=93, priority="critical", risk_level="critical", transactions=3)
    services.case_start_review(case=case, actor=ivy)
    services.case_note_add(case=case, actor=ivy, body="Called the cardholder: Zoë denies it.")
    services.attachment_add(
        case=case, actor=ivy, upload=SimpleUploadedFile("statement.txt", b"evidence bytes")
    )
    services.case_close(
        case=case, actor=ivy, disposition="fraud_confirmed", note="Card testing on a new device."
    )
    services.case_approve_closure(case=case, actor=sam, note="Agreed.")
    case.refresh_from_db()
    return {"case": case, "ivy": ivy, "sam": sam}


def pdf_text(content: bytes) -> str:
    reader = PdfReader(io.BytesIO(content))
    return "\n".join(page.extract_text() for page in reader.pages)


def squash(s: str) -> str:
    return re.sub(r"\s+", "", s)


def test_report_pdf_has_transactions_notes_attachments_and_the_audit_chain(worked_case, make_user):
    case = worked_case["case"]
    client = Client()
    client.force_login(make_user("auditor", "aud"))
    response = client.get(f"/cases/{case.pk}/report.pdf")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert f'filename="case-{case.pk}-report.pdf"' in response["Content-Disposition"]
    text = pdf_text(response.content)
    flat = squash(text)
    assert f"Case #{case.pk}" in text
    for txn in case.transactions.all():
        assert txn.external_id in text
    assert "9 earlier transactions in the last hour" in text  # a reason, in plain words
    assert "Zoë denies it" in text  # the note, with its non-ASCII letter
    attachment = case.attachments.get()
    assert attachment.sha256 in flat
    assert "Fraud confirmed" in text and "case.approve" in text
    events = list(AuditEvent.objects.filter(case=case).exclude(action="case.report").order_by("id"))
    assert len(events) >= 5
    for event in events:
        assert event.action in text
        assert event.hash in flat and event.prev_hash in flat  # chain position, verifiable
    download = AuditEvent.objects.get(action="case.report", case=case)
    assert download.actor_label == "user:aud"
    assert download.after["sha256"] == hashlib.sha256(response.content).hexdigest()


def test_report_permissions(worked_case, make_user):
    case = worked_case["case"]
    nobody = Client()
    nobody.force_login(make_user(None, "nobody"))
    assert nobody.get(f"/cases/{case.pk}/report.pdf").status_code == 403
    anonymous = Client().get(f"/cases/{case.pk}/report.pdf")
    assert anonymous.status_code == 302
    client = Client()
    client.force_login(worked_case["ivy"])
    assert client.get("/cases/999999/report.pdf").status_code == 404
    assert not AuditEvent.objects.filter(action="case.report").exists()


def test_sar_export_drafts_a_narrative_and_exports_json_and_pdf(worked_case):
    case = worked_case["case"]
    client = Client()
    client.force_login(worked_case["ivy"])
    page = client.get(f"/cases/{case.pk}/sar/")
    assert page.status_code == 200
    html = page.content.decode()
    assert f"account {case.account_id} made 3 transaction(s)" in html
    assert "Zoë denies it" in html  # the notes feed the draft

    narrative = "Edited by the investigator: three card-testing payments on a new device."
    response = client.post(f"/cases/{case.pk}/sar/", {"narrative": narrative, "format": "json"})
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    doc = json.loads(response.content)
    assert doc["schema"] == "fraudcases.sar/v1"
    assert doc["subject"]["account_id"] == case.account_id
    assert doc["activity"]["transaction_count"] == 3
    assert doc["activity"]["total_amount"] == {"USD": "376.50"}  # 3 × 125.50
    assert doc["narrative"] == narrative and doc["narrative_edited"] is True
    assert doc["prepared_by"] == "ivy"
    assert {t["external_id"] for t in doc["transactions"]} == set(
        case.transactions.values_list("external_id", flat=True)
    )
    assert doc["instruments"] == [
        {
            "channel": "web",
            "merchant_category": "electronics",
            "currency": "USD",
            "transactions": 3,
            "amount": "376.50",
        }
    ]
    event = AuditEvent.objects.get(action="case.sar_export")
    assert event.after["format"] == "json"
    assert event.after["sha256"] == hashlib.sha256(response.content).hexdigest()

    pdf = client.post(f"/cases/{case.pk}/sar/", {"narrative": narrative, "format": "pdf"})
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    text = pdf_text(pdf.content)
    assert squash(narrative) in squash(text)
    assert case.account_id in text and "376.50" in text
    assert AuditEvent.objects.filter(action="case.sar_export").count() == 2


def test_sar_export_bad_input_and_roles(worked_case, make_user):
    case = worked_case["case"]
    client = Client()
    client.force_login(worked_case["ivy"])
    bad = client.post(f"/cases/{case.pk}/sar/", {"narrative": "", "format": "xml"})
    assert bad.status_code == 400
    assert not AuditEvent.objects.filter(action="case.sar_export").exists()
    auditor = Client()
    auditor.force_login(make_user("auditor", "aud"))
    assert auditor.get(f"/cases/{case.pk}/sar/").status_code == 403
    assert Case.objects.get(pk=case.pk).status == Case.Status.CLOSED
