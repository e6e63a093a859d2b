"""Audit log: every write leaves its event, masked, sealed with the key; the model refuses changes.

The chain, its anchors and tampering: tests/core/test_audit_chain.py; the database triggers:
tests/core/test_audit_guard.py; export, request ids and the audit page:
tests/cases/test_audit_export.py.
"""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from core.audit import audit_current_key, audit_record, audit_verify_chain, chain_mac, mask
from core.models import AuditEvent, AuditLogImmutableError
from fraudcases import services
from fraudcases.models import Case
from tests.factories import CaseFactory

pytestmark = pytest.mark.django_db


def _writes(p, tmp_path, settings):
    """(expected action, call) for every write service of the case domain."""
    settings.MEDIA_ROOT = tmp_path
    c1, c2, c3, c4 = (CaseFactory() for _ in range(4))
    crit = CaseFactory(priority="critical", risk_score=97)
    crit2 = CaseFactory(priority="critical", risk_score=97)
    return [
        ("case.assign", lambda: services.case_assign(case=c1, actor=p["sup"], assignee=p["inv"])),
        ("case.unassign", lambda: services.case_assign(case=c1, actor=p["sup"], assignee=None)),
        ("case.claim", lambda: services.case_claim_next(actor=p["inv"])),
        ("case.start_review", lambda: services.case_start_review(case=c2, actor=p["inv"])),
        ("case.escalate", lambda: services.case_escalate(case=c2, actor=p["inv"], reason="r")),
        (
            "case.close",
            lambda: services.case_close(
                case=c2, actor=p["sup"], disposition="legitimate", note="n"
            ),
        ),
        ("case.reopen", lambda: services.case_reopen(case=c2, actor=p["sup"], reason="again")),
        ("case.note", lambda: services.case_note_add(case=c3, actor=p["inv"], body="hello")),
        ("case.tag", lambda: services.case_tags_update(case=c3, actor=p["inv"], add=["mule"])),
        (
            "case.attach",
            lambda: services.attachment_add(
                case=c3, actor=p["inv"], upload=SimpleUploadedFile("a.txt", b"abc")
            ),
        ),
        (
            "case.attachment_download",
            lambda: services.attachment_download_record(
                attachment=c3.attachments.first(), actor=p["sup"]
            ),
        ),
        (
            "case.request_closure",
            lambda: services.case_close(
                case=crit, actor=p["inv"], disposition="legitimate", note="n"
            ),
        ),
        ("case.approve", lambda: services.case_approve_closure(case=crit, actor=p["sup"])),
        (
            "case.request_closure",
            lambda: services.case_close(
                case=crit2, actor=p["inv"], disposition="legitimate", note="n"
            ),
        ),
        (
            "case.reject_closure",
            lambda: services.case_reject_closure(case=crit2, actor=p["sup2"], note="more"),
        ),
        (
            "case.tag",
            lambda: services.cases_bulk_tag(case_ids=[c4.pk], actor=p["inv"], tag="bulk"),
        ),
    ]


def test_every_write_leaves_its_event(people, tmp_path, settings):
    for action, call in _writes(people, tmp_path, settings):
        before = AuditEvent.objects.count()
        call()
        new = list(AuditEvent.objects.order_by("id")[before:])
        assert [e.action for e in new] == [action], action
        event = new[0]
        assert event.actor_id is not None and event.actor_label.startswith("user:")
        key_id, key = audit_current_key()
        assert event.key_id == key_id and event.hash == chain_mac(event, key)
    assert audit_verify_chain().ok


def test_case_events_carry_before_and_after_snapshots(people):
    case = CaseFactory()
    services.case_escalate(case=case, actor=people["inv"], reason="why")
    event = AuditEvent.objects.get(case=case, action="case.escalate")
    assert event.before["status"] == "new" and event.after["status"] == "escalated"
    assert set(event.after) >= {"status", "priority", "assignee", "disposition", "risk_score"}


def test_secrets_and_card_numbers_are_masked(people):
    case = CaseFactory()
    services.case_note_add(case=case, actor=people["inv"], body="Card 4111-1111-1111-1111 used")
    event = AuditEvent.objects.get(action="case.note")
    assert "4111-1111-1111-1111" not in event.after["body"]
    assert event.after["body"].endswith("1111 used") and "************1111" in event.after["body"]
    # Numbers that are not card numbers (no Luhn check digit) stay readable.
    assert mask("Opened by model 20261123-182327") == "Opened by model 20261123-182327"
    assert mask("pan 4539 1488 0343 6467 seen") == "pan ************6467 seen"
    assert mask({"api_key": "abc", "password": "x", "nested": {"token": "t"}}) == {
        "api_key": "***",
        "password": "***",
        "nested": {"token": "***"},
    }


def test_model_refuses_update_and_delete(people):
    event = audit_record(action="test.event", actor=people["inv"], note="x")
    event.note = "changed"
    with pytest.raises(AuditLogImmutableError):
        event.save()
    with pytest.raises(AuditLogImmutableError):
        event.delete()
    with pytest.raises(AuditLogImmutableError):
        AuditEvent.objects.filter(pk=event.pk).update(note="changed")
    with pytest.raises(AuditLogImmutableError):
        AuditEvent.objects.all().delete()


def test_case_open_by_worker_is_audited():
    from fraudcases.services import CaseHit, cases_open_or_attach
    from tests.factories import TransactionFactory

    txn = TransactionFactory(account_id="acct-w")
    (case,) = cases_open_or_attach(
        hits=[CaseHit(account_id="acct-w", transaction_ids=[txn.pk], reasons=["velocity"])]
    )
    event = AuditEvent.objects.get(case=case)
    assert event.action == "case.open" and event.actor_label == "system:scoring-worker"
    assert Case.objects.get(pk=case.pk).snapshot()["status"] == "new"
