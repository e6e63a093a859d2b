"""The one workflow table and what derives from it; four-eyes for supervisors; the admin role;
labels defined once (close → reopen → close differently); evidence tombstones; bad input."""

from __future__ import annotations

import inspect
import os
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.test.utils import override_settings
from rest_framework.test import APIClient

from core.admin_rules import ADMIN_RULES
from core.errors import ApplicationError, ConflictError, PermissionDeniedError
from core.models import AuditEvent
from core.permissions import ACTION_ROLES, user_can
from fraudcases import services, workflow
from fraudcases.api.views import API_ACTIONS
from fraudcases.models import Attachment, Case, Note
from fraudcases.selectors import case_available_actions
from scoring.models import LabelSource, Transaction
from scoring.schema import validate_transactions
from scoring.selectors import transactions_frame
from scoring.services.ingest import transactions_store
from tests.factories import CaseFactory, TransactionFactory

pytestmark = pytest.mark.django_db
S = Case.Status


def critical_case(**kwargs) -> Case:
    return CaseFactory(priority="critical", risk_level="critical", risk_score=95, **kwargs)


# --- the table ---------------------------------------------------------------------------------


def test_every_action_resolves_to_a_service_that_takes_its_inputs():
    for action in workflow.CASE_ACTIONS:
        service = workflow._service(action.service)
        params = inspect.signature(service).parameters
        expected = {i.name for i in action.inputs} | set(action.fixed) | {"actor"}
        if action.per_case:
            expected.add("case")
        missing = expected - set(params)
        assert not missing, f"{action.slug}: {action.service} lacks {missing}"
        assert all(p.kind == p.KEYWORD_ONLY for p in params.values()), action.service


def test_permissions_and_statuses_derive_from_the_table():
    for action in workflow.CASE_ACTIONS:
        assert action.roles <= ACTION_ROLES[action.code]
        assert workflow.ALLOWED_FROM[action.code] == action.from_statuses
    assert set(API_ACTIONS) == {a.slug for a in workflow.actions_on(workflow.API)}
    for bulk in workflow.BULK_ACTIONS:
        assert bulk.case_action.per_case


def test_a_new_table_entry_is_offered_and_dispatched_everywhere(people, monkeypatch):
    """One entry: the page offers it, the page, API and admin dispatch it, permissions know it."""
    entry = workflow.CaseAction(
        slug="start-review-again",
        code="case.start_review",
        label="Start review (copy)",
        roles=workflow.CASE_WORKERS,
        from_statuses=frozenset({S.NEW}),
        to="new → in_review",
        service="fraudcases.services.transitions.case_start_review",
        audit=("case.start_review",),
        owned=True,
        done=lambda case, data: "Started.",
    )
    monkeypatch.setattr(workflow, "CASE_ACTIONS", (*workflow.CASE_ACTIONS, entry))
    monkeypatch.setitem(workflow.BY_SLUG, entry.slug, entry)
    case = CaseFactory()
    client = Client()
    client.force_login(people["inv"])
    page = client.get(f"/cases/{case.pk}/").content.decode()
    assert 'id="action-start-review-again"' in page
    assert client.post(f"/cases/{case.pk}/start-review-again/").status_code == 302
    case.refresh_from_db()
    assert case.status == S.IN_REVIEW and case.assignee == people["inv"]


def test_available_actions_follow_status_and_role(people):
    case = CaseFactory()
    assert {"case.start_review", "case.escalate", "case.close", "case.note"} <= (
        case_available_actions(user=people["inv"], case=case)
    )
    assert case_available_actions(user=people["auditor"], case=case) == set()
    assert case_available_actions(user=people["admin"], case=case) == {"case.assign"}


# --- four-eyes ---------------------------------------------------------------------------------


def test_supervisor_who_worked_a_critical_case_needs_a_second_supervisor(people):
    case = critical_case()
    services.case_start_review(case=case, actor=people["sup"])
    case = services.case_close(
        case=case, actor=people["sup"], disposition="fraud_confirmed", note="card testing"
    )
    assert case.status == S.PENDING_APPROVAL and case.closure_requested_by == people["sup"]
    assert not user_can(people["sup"], "case.approve", case)
    with pytest.raises(PermissionDeniedError, match="different supervisor"):
        services.case_approve_closure(case=case, actor=people["sup"])
    case = services.case_approve_closure(case=case, actor=people["sup2"], note="agreed")
    assert case.status == S.CLOSED and case.closed_by == people["sup2"]
    assert case.disposition == "fraud_confirmed"


def test_supervisor_reviewing_someone_elses_critical_case_closes_it(people):
    """The investigator did the work; the supervisor is the second pair of eyes."""
    case = critical_case()
    services.case_start_review(case=case, actor=people["inv"])
    services.case_escalate(case=case, actor=people["inv"], reason="looks like a mule")
    case = services.case_close(case=case, actor=people["sup"], disposition="legitimate", note="ok")
    assert case.status == S.CLOSED


@override_settings(CASE_FOUR_EYES_SUPERVISORS=False)
def test_supervisor_four_eyes_can_be_switched_off(people):
    case = critical_case(assignee=people["sup"])
    case = services.case_close(case=case, actor=people["sup"], disposition="legitimate", note="x")
    assert case.status == S.CLOSED


def test_request_approval_on_any_case_and_nobody_approves_their_own(people):
    case = CaseFactory(risk_score=40, priority="medium")
    case = services.case_request_closure(
        case=case, actor=people["sup"], disposition="legitimate", note="second opinion"
    )
    assert case.status == S.PENDING_APPROVAL
    assert AuditEvent.objects.filter(case=case, action="case.request_closure").exists()
    with pytest.raises(PermissionDeniedError):
        services.case_approve_closure(case=case, actor=people["sup"])


def test_admin_role_administers_and_does_not_work_cases(people):
    case = CaseFactory()
    for action in ("case.close", "case.approve", "case.claim", "case.note"):
        assert not user_can(people["admin"], action, case)
    assert user_can(people["admin"], "case.assign", case)
    client = Client()
    client.force_login(people["admin"])
    assert client.get("/cases/next/").status_code == 403
    response = client.post(f"/cases/{case.pk}/close/", {"disposition": "legitimate", "note": "x"})
    assert response.status_code == 403
    api = APIClient()
    api.force_authenticate(people["admin"])
    response = api.post(
        f"/api/v1/cases/{case.pk}/close", {"disposition": "legitimate", "note": "x"}, format="json"
    )
    assert response.status_code == 403


# --- labels ------------------------------------------------------------------------------------


def _labels(case: Case) -> list[tuple]:
    return list(
        Transaction.objects.filter(case_link__case=case).values_list("is_fraud", "label_source")
    )


def test_label_lifecycle_close_reopen_close_differently(people):
    case = CaseFactory(transactions=2)
    services.case_close(case=case, actor=people["sup"], disposition="fraud_confirmed", note="a")
    assert _labels(case) == [(True, LabelSource.DISPOSITION)] * 2
    txn = Transaction.objects.filter(case_link__case=case).first()
    assert txn.labelled_at is not None
    services.case_reopen(case=case, actor=people["sup"], reason="chargeback says otherwise")
    assert _labels(case) == [(None, "")] * 2
    reopen = AuditEvent.objects.get(case=case, action="case.reopen")
    assert reopen.after["labels_cleared"] == 2
    frame = transactions_frame().set_index("id")
    assert frame["is_fraud"].isna().all()
    services.case_close(case=case, actor=people["sup"], disposition="legitimate", note="b")
    assert _labels(case) == [(False, LabelSource.DISPOSITION)] * 2
    assert (transactions_frame()["is_fraud"] == 0).all()


def test_inconclusive_sets_no_label_and_clears_an_earlier_one(people):
    case = CaseFactory()
    services.case_close(case=case, actor=people["sup"], disposition="legitimate", note="a")
    services.case_reopen(case=case, actor=people["sup"], reason="more came in")
    Transaction.objects.filter(case_link__case=case).update(
        is_fraud=True, label_source=LabelSource.DISPOSITION
    )  # a stale label, as before labels were materialised
    services.case_close(case=case, actor=people["sup"], disposition="inconclusive", note="?")
    assert _labels(case) == [(None, "")]


def test_imported_and_generator_labels_keep_their_source(people):
    for source, ext in ((Transaction.Source.IMPORT, "i"), (Transaction.Source.SYNTHETIC, "g")):
        (item,) = validate_transactions(
            [
                {
                    "external_id": f"l-{ext}",
                    "account_id": "acct-l",
                    "amount": "10.00",
                    "occurred_at": "2026-11-01T10:00:00+00:00",
                }
            ]
        )
        transactions_store(items=[item | {"is_fraud": True}], source=source, mode="history")
    imported = Transaction.objects.get(external_id="l-i")
    generated = Transaction.objects.get(external_id="l-g")
    assert (imported.is_fraud, imported.label_source) == (True, LabelSource.IMPORT)
    assert (generated.is_fraud, generated.label_source) == (True, LabelSource.GENERATOR)
    assert imported.labelled_at is not None
    # A disposition does not override a label that came with the data.
    case = CaseFactory(transactions=0)
    case.case_transactions.create(transaction=imported)
    services.case_close(case=case, actor=people["sup"], disposition="legitimate", note="x")
    imported.refresh_from_db()
    assert (imported.is_fraud, imported.label_source) == (True, LabelSource.IMPORT)


# --- evidence ---------------------------------------------------------------------------------


def test_notes_are_corrected_not_edited_and_removed_as_tombstones(people):
    case = CaseFactory()
    note = services.case_note_add(case=case, actor=people["inv"], body="card 4111 seen")
    fix = services.case_note_add(case=case, actor=people["inv"], body="it was 4222", corrects=note)
    assert fix.corrects == note and Note.objects.get(pk=note.pk).body == "card 4111 seen"
    with pytest.raises(PermissionDeniedError):
        services.note_delete(note=note, actor=people["inv"], reason="typo")
    services.note_delete(note=note, actor=people["sup"], reason="wrong case")
    note.refresh_from_db()
    assert note.body == "" and note.is_deleted and note.deleted_by == people["sup"]
    event = AuditEvent.objects.get(action="case.note_delete")
    assert event.note == "wrong case" and len(event.before["sha256"]) == 64
    with pytest.raises(ConflictError):
        services.note_delete(note=note, actor=people["sup"], reason="again")


def test_attachment_removed_keeps_a_tombstone(
    people, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = tmp_path
    case = CaseFactory()
    attachment = services.attachment_add(
        case=case, actor=people["inv"], upload=SimpleUploadedFile("a.txt", b"evidence")
    )
    path = attachment.file.path
    with django_capture_on_commit_callbacks(execute=True):
        services.attachment_delete(attachment=attachment, actor=people["sup"], reason="dup")
    attachment = Attachment.objects.get(pk=attachment.pk)
    assert attachment.is_deleted and attachment.sha256 and not attachment.file
    assert not os.path.exists(path)
    client = Client()
    client.force_login(people["sup"])
    assert client.get(f"/attachments/{attachment.pk}/").status_code == 404
    assert "removed by sup" in client.get(f"/cases/{case.pk}/").content.decode()


@pytest.mark.parametrize(
    "name,content",
    [
        ("evil.pdf", b"MZ\x90\x00 an executable"),
        ("photo.png", b"%PDF-1.7 not a png"),
        ("notes.txt", b"\x89PNG\r\n\x1a\n binary"),
        ("data.csv", b"a,b\x00\x01\x02"),
    ],
)
def test_attachment_type_is_checked_by_content(people, settings, tmp_path, name, content):
    settings.MEDIA_ROOT = tmp_path
    with pytest.raises(ApplicationError, match="content"):
        services.attachment_add(
            case=CaseFactory(), actor=people["inv"], upload=SimpleUploadedFile(name, content)
        )
    assert not Attachment.objects.exists()


def test_attachment_with_matching_content_is_accepted(people, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    for name, content in (
        ("a.pdf", b"%PDF-1.4\n..."),
        ("b.png", b"\x89PNG\r\n\x1a\n...."),
        ("c.jpg", b"\xff\xd8\xff\xe0...."),
        ("d.csv", "name,city\nJosé,Zürich\n".encode()),
    ):
        services.attachment_add(
            case=CaseFactory(), actor=people["inv"], upload=SimpleUploadedFile(name, content)
        )
    assert Attachment.objects.count() == 4


# --- bad input ---------------------------------------------------------------------------------


def test_bulk_with_a_25_digit_id_is_a_clear_400(people):
    client = Client()
    client.force_login(people["inv"])
    response = client.post("/cases/bulk/", {"action": "tag", "tag": "x", "cases": ["1" * 25]})
    assert response.status_code == 400
    assert "is not a case number" in response.content.decode()
    with pytest.raises(ApplicationError, match="Not a case number"):
        services.cases_bulk_tag(case_ids=["9" * 25], actor=people["inv"], tag="x")


def test_case_pages_with_huge_ids_are_404(people):
    client = Client()
    client.force_login(people["inv"])
    assert client.get(f"/cases/{'9' * 25}/").status_code == 404
    api = APIClient()
    api.force_authenticate(people["inv"])
    assert api.get(f"/api/v1/cases/{'9' * 25}").status_code == 404


def test_api_offers_the_table_actions(people):
    case = CaseFactory()
    api = APIClient()
    api.force_authenticate(people["inv"])
    response = api.post(f"/api/v1/cases/{case.pk}/start-review", {}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "in_review"
    response = api.post(
        f"/api/v1/cases/{case.pk}/request-approval",
        {"disposition": "bogus", "note": ""},
        format="json",
    )
    assert response.status_code == 400 and "disposition" in response.json()["errors"]
    TransactionFactory()  # unrelated rows are not touched by an action
    response = api.post(
        f"/api/v1/cases/{case.pk}/request-approval",
        {"disposition": "legitimate", "note": "please check"},
        format="json",
    )
    assert response.status_code == 200 and response.json()["status"] == "pending_approval"


def test_docs_name_every_action_and_admin_model():
    doc = (Path(settings.BASE_DIR) / "docs" / "workflow.md").read_text()
    missing = [f"`{a.slug}`" for a in workflow.CASE_ACTIONS if f"| `{a.slug}` |" not in doc]
    missing += [f"`{label}`" for label in ADMIN_RULES if f"| `{label}` |" not in doc]
    assert not missing, f"docs/workflow.md does not describe: {missing}"


def test_admins_cannot_lock_themselves_out_and_roles_are_checked(people):
    with pytest.raises(ApplicationError, match="yourself"):
        services.user_update(actor=people["admin"], user=people["admin"], roles=["auditor"])
    with pytest.raises(ApplicationError, match="yourself"):
        services.user_update(actor=people["admin"], user=people["admin"], is_active=False)
    with pytest.raises(ApplicationError, match="Unknown role"):
        services.user_create(
            actor=people["admin"], username="x", password="A-long-pass-2026!", roles=["root"]
        )
    with pytest.raises(PermissionDeniedError):
        services.user_update(actor=people["sup"], user=people["inv"], roles=["admin"])
    user = services.user_create(
        actor=people["admin"], username="newbie", password="A-long-pass-2026!", roles=["auditor"]
    )
    services.user_update(actor=people["admin"], user=user, roles=["investigator"])
    event = AuditEvent.objects.filter(action="user.update").latest("id")
    assert event.before == {"roles": ["auditor"]} and event.after == {"roles": ["investigator"]}
