"""The workspace pages: queue filters and search, next case, detail, actions, bulk, attachments,
supervisor and dashboard figures, the audit log with CSV export, and sign-in hardening."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from core.models import AuditEvent, LoginFailure
from fraudcases import services
from fraudcases.models import Attachment, Case, CaseTransaction
from tests.factories import CaseFactory, TransactionFactory

pytestmark = pytest.mark.django_db
PASSWORD = "pw-for-tests-only"


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def inv(people):
    return client_for(people["investigator"])


@pytest.fixture
def sup(people):
    return client_for(people["supervisor"])


# --- queue ------------------------------------------------------------------------------------


def queue_ids(client, **params) -> list[int]:
    response = client.get("/cases/", params)
    assert response.status_code == 200, response.content[:500]
    return [c.pk for c in response.context["page"]]


def test_queue_shows_open_cases_with_risk_amount_reasons_and_sla(inv, people):
    case = CaseFactory(transactions=2, risk_score=88)
    closed = CaseFactory()
    Case.objects.filter(pk=closed.pk).update(status="closed", disposition="legitimate")
    response = inv.get("/cases/")
    body = response.content.decode()
    assert queue_ids(inv) == [case.pk]
    assert "88" in body and "251.00 USD" in body and "Burst of transactions" in body
    assert "left" in body  # SLA countdown


def test_queue_filters(inv, people):
    me = people["investigator"]
    mine = CaseFactory(assignee=me, priority="critical", risk_score=95)
    unassigned = CaseFactory(priority="low", risk_score=71)
    old = CaseFactory(priority="medium", risk_score=75)
    Case.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(days=5), due_at=timezone.now() - timedelta(hours=1)
    )
    services.case_tags_update(case=unassigned, actor=me, add=["mule"])
    assert queue_ids(inv, assignee="me") == [mine.pk]
    assert set(queue_ids(inv, assignee="none")) == {unassigned.pk, old.pk}
    assert queue_ids(inv, priority="critical") == [mine.pk]
    assert queue_ids(inv, risk_min=90) == [mine.pk]
    assert set(queue_ids(inv, risk_max=75)) == {unassigned.pk, old.pk}
    assert queue_ids(inv, age="3to7d") == [old.pk]
    assert queue_ids(inv, sla="breached") == [old.pk]
    assert queue_ids(inv, tag="mule") == [unassigned.pk]
    assert queue_ids(inv, account_id=mine.account_id) == [mine.pk]
    assert queue_ids(inv, sort="-risk") == [mine.pk, old.pk, unassigned.pk]
    assert queue_ids(inv, sort="risk") == [unassigned.pk, old.pk, mine.pk]
    assert queue_ids(inv, status="new", priority="low") == [unassigned.pk]


def test_queue_search_by_account_external_id_and_merchant(inv):
    case = CaseFactory(account_id="acct-search-1")
    other = CaseFactory(account_id="acct-other")
    txn = TransactionFactory(account_id=case.account_id, external_id="EXT-42", merchant_id="M-77")
    CaseTransaction.objects.create(case=case, transaction=txn)
    assert queue_ids(inv, q="search-1") == [case.pk]
    assert queue_ids(inv, q="EXT-42") == [case.pk]
    assert queue_ids(inv, q="m-77") == [case.pk]
    assert other.pk not in queue_ids(inv, q="EXT-42")


def test_queue_bad_filter_is_a_clear_error_not_a_500(inv):
    CaseFactory()
    response = inv.get("/cases/", {"risk_min": "abc", "risk_max": "5"})
    assert response.status_code == 200
    assert response.context["form"].errors


def test_queue_paginates(inv):
    for _ in range(55):
        CaseFactory(transactions=0)
    first = inv.get("/cases/")
    assert len(first.context["page"]) == 50
    second = inv.get("/cases/", {"page": 2})
    assert len(second.context["page"]) == 5


# --- next case --------------------------------------------------------------------------------


def test_next_case_claims_and_opens(inv, people):
    low = CaseFactory(priority="low")
    top = CaseFactory(priority="critical")
    page = inv.get("/cases/next/")
    assert page.status_code == 200 and "2 unassigned new cases" in page.content.decode()
    response = inv.post("/cases/next/")
    assert response.status_code == 302 and response["Location"] == f"/cases/{top.pk}/"
    top.refresh_from_db()
    assert top.assignee == people["investigator"] and top.status == "in_review"
    inv.post("/cases/next/")
    response = inv.post("/cases/next/", follow=True)
    assert "No unassigned new cases" in response.content.decode()
    low.refresh_from_db()
    assert low.assignee == people["investigator"]


# --- detail and actions -----------------------------------------------------------------------


def test_detail_shows_transactions_history_linked_cases_and_timeline(inv, people):
    case = CaseFactory(account_id="acct-d", transactions=1)
    TransactionFactory(account_id="acct-d", risk_score=10, risk_level="low")
    shared = CaseFactory(account_id="acct-e", transactions=0)
    CaseTransaction.objects.create(
        case=shared, transaction=TransactionFactory(account_id="acct-e", device_id="dev-1")
    )
    services.case_note_add(case=case, actor=people["investigator"], body="<script>x</script>**b**")
    response = inv.get(f"/cases/{case.pk}/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "9 earlier transactions in the last hour" in body  # reason detail in plain words
    assert "<svg" in body and 'class="pt-case"' in body and 'class="pt"' in body
    assert f"/cases/{shared.pk}/" in body and "device dev-1" in body
    assert "<strong>b</strong>" in body and "<script>x" not in body
    assert "case.note" in body  # timeline
    assert response.context["actions"] >= {"case.start_review", "case.escalate", "case.close"}


def test_detail_offers_only_allowed_actions(people):
    case = CaseFactory()
    aud = client_for(people["auditor"]).get(f"/cases/{case.pk}/")
    assert aud.status_code == 200 and aud.context["actions"] == set()
    assert "Your role cannot change this case" in aud.content.decode()
    assert "Escalate…" not in aud.content.decode()


def test_escalate_via_page_and_timeline_shows_it(inv, people):
    case = CaseFactory()
    response = inv.post(f"/cases/{case.pk}/escalate/", {"reason": "Looks like a mule"})
    assert response.status_code == 302
    page = inv.get(f"/cases/{case.pk}/")
    body = page.content.decode()
    assert "case.escalate" in body and "Looks like a mule" in body and "new → escalated" in body


def test_action_with_missing_input_is_a_400_with_message(inv):
    case = CaseFactory()
    response = inv.post(f"/cases/{case.pk}/close/", {"disposition": "legitimate", "note": ""})
    assert response.status_code == 400
    assert "This field is required" in response.content.decode()
    case.refresh_from_db()
    assert case.status == "new"


def test_refused_transition_is_a_409_with_message(sup):
    case = CaseFactory()
    response = sup.post(f"/cases/{case.pk}/approve/", {})
    assert response.status_code == 409
    assert "cannot approve" in response.content.decode()


def test_auditor_cannot_act(people):
    case = CaseFactory()
    aud = client_for(people["auditor"])
    response = aud.post(f"/cases/{case.pk}/escalate/", {"reason": "x"})
    assert response.status_code == 403
    assert not AuditEvent.objects.filter(case=case).exists()


def test_four_eyes_through_the_pages(inv, people):
    case = CaseFactory(priority="critical", risk_score=97)
    inv.post(f"/cases/{case.pk}/close/", {"disposition": "fraud_confirmed", "note": "stolen"})
    case.refresh_from_db()
    assert case.status == "pending_approval"
    sup = client_for(people["supervisor"])
    overview = sup.get("/supervisor/")
    assert case in overview.context["pending"]
    response = sup.post(f"/cases/{case.pk}/approve/", {"note": "ok"})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.status == "closed" and case.disposition == "fraud_confirmed"


def test_unknown_action_is_404(inv):
    case = CaseFactory()
    assert inv.post(f"/cases/{case.pk}/explode/").status_code == 404
    assert inv.get("/cases/999999/").status_code == 404


def test_csrf_is_enforced_on_actions(people):
    case = CaseFactory()
    client = Client(enforce_csrf_checks=True)
    client.force_login(people["investigator"])
    response = client.post(f"/cases/{case.pk}/escalate/", {"reason": "x"})
    assert response.status_code == 403
    case.refresh_from_db()
    assert case.status == "new"


# --- bulk -------------------------------------------------------------------------------------


def test_bulk_close_and_tag_from_the_queue(inv, people):
    cases = [CaseFactory() for _ in range(3)]
    ids = [c.pk for c in cases]
    response = inv.post(
        "/cases/bulk/", {"action": "tag", "cases": ids, "tag": "payroll", "return_query": ""}
    )
    assert response.status_code == 302
    assert Case.objects.filter(tags__name="payroll").count() == 3
    response = inv.post(
        "/cases/bulk/", {"action": "close_legitimate", "cases": ids, "note": "payroll run"}
    )
    assert response.status_code == 302
    assert Case.objects.filter(pk__in=ids, status="closed", disposition="legitimate").count() == 3


def test_bulk_bad_input_is_400(inv):
    case = CaseFactory()
    response = inv.post("/cases/bulk/", {"action": "close_legitimate", "cases": [case.pk]})
    assert response.status_code == 400
    assert "closing note is required" in response.content.decode()
    response = inv.post("/cases/bulk/", {"action": "tag", "tag": "x"})
    assert response.status_code == 400
    assert "Select at least one case" in response.content.decode()
    response = inv.post("/cases/bulk/", {"action": "tag", "tag": "x", "cases": [999999]})
    assert response.status_code == 400 and "do not exist" in response.content.decode()


def test_bulk_assign_by_supervisor(sup, people):
    cases = [CaseFactory() for _ in range(2)]
    response = sup.post(
        "/cases/bulk/",
        {"action": "assign", "cases": [c.pk for c in cases], "assignee": "inv2"},
    )
    assert response.status_code == 302
    assert Case.objects.filter(assignee=people["investigator2"]).count() == 2


# --- attachments ------------------------------------------------------------------------------


@pytest.fixture
def media(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "private"
    return settings.MEDIA_ROOT


def test_attachment_upload_and_permission_checked_download(inv, people, media):
    case = CaseFactory()
    upload = SimpleUploadedFile("bank letter.pdf", b"%PDF-1.4 test", content_type="text/html")
    response = inv.post(f"/cases/{case.pk}/attachments/", {"file": upload})
    assert response.status_code == 302
    attachment = Attachment.objects.get(case=case)
    assert attachment.content_type == "application/pdf"  # from the allow-list, not the client
    assert attachment.file.path.startswith(str(media))
    assert "bank letter" not in attachment.file.name
    download = client_for(people["auditor"]).get(f"/attachments/{attachment.pk}/")
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == b"%PDF-1.4 test"
    assert "attachment;" in download["Content-Disposition"]
    actions = list(AuditEvent.objects.filter(case=case).values_list("action", flat=True))
    assert actions == ["case.attach", "case.attachment_download"]
    assert Client().get(f"/attachments/{attachment.pk}/").status_code == 302


def test_attachment_type_and_size_limits(inv, media, settings):
    case = CaseFactory()
    bad = SimpleUploadedFile("run.exe", b"MZ...", content_type="application/pdf")
    response = inv.post(f"/cases/{case.pk}/attachments/", {"file": bad})
    assert response.status_code == 400 and "not accepted" in response.content.decode()
    settings.ATTACHMENT_MAX_BYTES = 10
    big = SimpleUploadedFile("big.txt", b"x" * 11)
    response = inv.post(f"/cases/{case.pk}/attachments/", {"file": big})
    assert response.status_code == 400 and "the limit is 10 bytes" in response.content.decode()
    assert not Attachment.objects.exists()


def test_media_is_not_served(inv, media):
    assert inv.get("/media/attachments/x.pdf").status_code == 404


# --- supervisor and dashboard -----------------------------------------------------------------


def test_supervisor_overview(sup, people):
    esc = CaseFactory()
    services.case_escalate(case=esc, actor=people["supervisor"], reason="check")
    late = CaseFactory(assignee=people["investigator"], due_at=timezone.now() - timedelta(hours=1))
    response = sup.get("/supervisor/")
    assert response.status_code == 200
    assert [c.pk for c in response.context["escalated"]] == [esc.pk]
    assert [c.pk for c in response.context["breached"]] == [late.pk]
    workload = {w["username"]: w for w in response.context["workload"]}
    assert workload["inv"]["total"] == 1 and workload["inv"]["overdue"] == 1


def test_dashboard_figures(people):
    # The dashboard's charts and tiles are tested in depth in tests/cases/reporting/ (insight).
    from django.core.cache import cache

    cache.clear()  # chart rows are cached per filter set
    sup_user = people["supervisor"]
    for disposition in ("fraud_confirmed", "fraud_confirmed", "legitimate", "inconclusive"):
        services.case_close(case=CaseFactory(), actor=sup_user, disposition=disposition, note="n")
    CaseFactory(priority="critical", due_at=timezone.now() - timedelta(minutes=1))
    response = client_for(people["auditor"]).get("/dashboard/")
    assert response.status_code == 200
    ctx = response.context
    assert ctx["tiles"]["precision"] == "50.0%"  # 2 of 4 closed cases confirmed fraud
    assert ctx["tiles"]["open_cases"] == "1" and ctx["tiles"]["sla_breached"] == "1"
    backlog = {row[0]: row[1:] for row in ctx["charts"]["backlog"]["rows"]}
    assert backlog["critical"] == [1, 0, 0, 0]  # breached
    assert sum(row[1] for row in ctx["charts"]["case_flow"]["rows"]) == 5  # opened
    assert "50.0%" in response.content.decode()
    cache.clear()


# --- audit log --------------------------------------------------------------------------------


def test_audit_page_filters_and_exports_csv(people):
    case = CaseFactory()
    services.case_escalate(case=case, actor=people["investigator"], reason="why not")
    services.case_note_add(case=case, actor=people["investigator"], body="card 4111 1111 1111 1111")
    aud = client_for(people["auditor"])
    page = aud.get("/audit/", {"action": "case.note"})
    assert page.status_code == 200
    events = list(page.context["page"])
    assert [e.action for e in events] == ["case.note"]
    assert "4111 1111 1111 1111" not in page.content.decode()
    assert aud.get("/audit/", {"case": case.pk}).context["page"].paginator.count == 2
    assert aud.get("/audit/", {"action": "case."}).context["page"].paginator.count == 2
    bad = aud.get("/audit/", {"since": "not-a-date"})
    assert bad.status_code == 400
    export = aud.get("/audit/export.csv", {"case": case.pk})
    assert export.status_code == 200 and export["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert [r["action"] for r in rows] == ["case.escalate", "case.note"]
    assert rows[0]["actor"] == "user:inv" and len(rows[0]["hash"]) == 64
    assert AuditEvent.objects.filter(action="audit.export", actor=people["auditor"]).exists()


# --- sign-in hardening ------------------------------------------------------------------------


@override_settings(LOGIN_LOCKOUT_FAILURES=3, LOGIN_LOCKOUT_MINUTES=15)
def test_login_lockout_after_repeated_failures(people):
    client = Client()
    for _ in range(2):
        response = client.post("/accounts/login/", {"username": "inv", "password": "wrong"})
        assert response.status_code == 200
    response = client.post("/accounts/login/", {"username": "inv", "password": "wrong"})
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.content.decode()
    # Even the right password is refused while locked.
    response = client.post("/accounts/login/", {"username": "inv", "password": PASSWORD})
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(action="auth.lockout").count() == 1
    # Another address is not locked; a success there clears only its own failures.
    other = Client(REMOTE_ADDR="10.0.0.9")
    response = other.post("/accounts/login/", {"username": "inv", "password": PASSWORD})
    assert response.status_code == 302
    ev = AuditEvent.objects.get(action="auth.login")
    assert ev.actor == people["investigator"] and ev.ip_address == "10.0.0.9"
    # The lock lifts after the window.
    LoginFailure.objects.update(created_at=timezone.now() - timedelta(minutes=16))
    response = client.post("/accounts/login/", {"username": "inv", "password": PASSWORD})
    assert response.status_code == 302


def test_security_headers_and_session_expiry(inv, settings):
    response = inv.get("/cases/")
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert settings.SESSION_COOKIE_AGE == 8 * 3600


def test_request_id_and_ip_on_audit_events(people):
    client = Client(REMOTE_ADDR="192.0.2.7")
    client.force_login(people["investigator"])
    case = CaseFactory()
    response = client.post(
        f"/cases/{case.pk}/escalate/", {"reason": "r"}, HTTP_X_REQUEST_ID="req-abcdef123"
    )
    assert response.status_code == 302
    ev = AuditEvent.objects.get(case=case, action="case.escalate")
    assert ev.request_id == "req-abcdef123" and ev.ip_address == "192.0.2.7"


def test_amount_totals_use_decimal(inv):
    case = CaseFactory(transactions=0)
    for amount in ("0.10", "0.20"):
        CaseTransaction.objects.create(
            case=case, transaction=TransactionFactory(account_id=case.account_id, amount=amount)
        )
    page = inv.get("/cases/")
    assert page.context["page"][0].total_amount == Decimal("0.30")
    assert reverse("case-detail", args=[case.pk]) in page.content.decode()


def test_assign_from_the_detail_page(inv, sup, people):
    case = CaseFactory()
    page = sup.get(f"/cases/{case.pk}/")
    assert page.context["can_assign_others"] and 'name="assignee"' in page.content.decode()
    assert sup.post(f"/cases/{case.pk}/assign/", {"assignee": "inv2"}).status_code == 302
    case.refresh_from_db()
    assert case.assignee == people["investigator2"]
    response = sup.post(f"/cases/{case.pk}/assign/", {"assignee": "aud"})
    assert response.status_code == 400  # not a case worker: not even a choice
    other = CaseFactory()
    assert not inv.get(f"/cases/{other.pk}/").context["can_assign_others"]
    assert inv.post(f"/cases/{other.pk}/take/").status_code == 302
    other.refresh_from_db()
    assert other.assignee == people["investigator"]
    assert inv.post(f"/cases/{other.pk}/assign/", {"assignee": ""}).status_code == 302
    other.refresh_from_db()
    assert other.assignee is None
