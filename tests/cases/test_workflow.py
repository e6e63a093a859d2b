"""Service tests of the case workflow: every transition, every refusal, four-eyes, SLA, bulk."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from core.errors import ApplicationError, ConflictError, PermissionDeniedError
from core.models import AuditEvent
from fraudcases import services
from fraudcases.models import Case, Note
from fraudcases.selectors import case_available_actions
from fraudcases.tasks import escalate_overdue_cases
from tests.factories import CaseFactory

pytestmark = pytest.mark.django_db
S = Case.Status


def last_event(case: Case) -> AuditEvent:
    return AuditEvent.objects.filter(case=case).order_by("-id").first()


def in_status(status: str, disposition: str = "", **kwargs) -> Case:
    case = CaseFactory(**kwargs)
    if status == S.CLOSED and not disposition:
        disposition = "legitimate"
    Case.objects.filter(pk=case.pk).update(status=status, disposition=disposition)
    case.refresh_from_db()
    return case


# --- start review, assign, claim -------------------------------------------------------------


def test_start_review_takes_an_unassigned_case(people):
    case = CaseFactory()
    case = services.case_start_review(case=case, actor=people["inv"])
    assert case.status == S.IN_REVIEW and case.assignee == people["inv"]
    ev = last_event(case)
    assert ev.action == "case.start_review"
    assert ev.before["status"] == "new" and ev.after["status"] == "in_review"
    assert ev.actor == people["inv"]


@pytest.mark.parametrize("status", [S.IN_REVIEW, S.ESCALATED, S.PENDING_APPROVAL, S.CLOSED])
def test_start_review_refused_outside_new(people, status):
    case = in_status(status)
    with pytest.raises(ConflictError, match="cannot start review"):
        services.case_start_review(case=case, actor=people["sup"])
    assert not AuditEvent.objects.filter(case=case).exists()


def test_investigator_cannot_act_on_someone_elses_case(people):
    case = CaseFactory(assignee=people["inv2"])
    with pytest.raises(PermissionDeniedError, match="assigned to someone else"):
        services.case_escalate(case=case, actor=people["inv"], reason="looks bad")
    with pytest.raises(PermissionDeniedError):
        services.case_assign(case=case, actor=people["inv"], assignee=people["inv"])


def test_investigator_assigns_only_to_self(people):
    case = CaseFactory()
    with pytest.raises(ApplicationError, match="only assign cases to themselves"):
        services.case_assign(case=case, actor=people["inv"], assignee=people["inv2"])
    case = services.case_assign(case=case, actor=people["inv"], assignee=people["inv"])
    assert case.assignee == people["inv"]
    assert last_event(case).action == "case.assign"
    case = services.case_assign(case=case, actor=people["inv"], assignee=None)
    assert case.assignee is None
    assert last_event(case).action == "case.unassign"


def test_supervisor_assigns_anyone_who_works_cases(people):
    case = CaseFactory()
    case = services.case_assign(case=case, actor=people["sup"], assignee=people["inv2"])
    assert case.assignee == people["inv2"]
    ev = last_event(case)
    assert ev.before["assignee"] is None and ev.after["assignee"] == "inv2"
    with pytest.raises(ApplicationError, match="cannot work cases"):
        services.case_assign(case=case, actor=people["sup"], assignee=people["auditor"])


def test_assign_refused_on_closed_case(people):
    case = in_status(S.CLOSED, disposition="legitimate")
    with pytest.raises(ConflictError):
        services.case_assign(case=case, actor=people["sup"], assignee=people["inv"])


@pytest.mark.parametrize("role", ["auditor", "nobody"])
def test_roles_without_rights_are_refused_every_write(people, role):
    case = CaseFactory()
    user = people[role]
    calls = [
        lambda: services.case_start_review(case=case, actor=user),
        lambda: services.case_escalate(case=case, actor=user, reason="r"),
        lambda: services.case_close(case=case, actor=user, disposition="legitimate", note="n"),
        lambda: services.case_note_add(case=case, actor=user, body="hi"),
        lambda: services.case_tags_update(case=case, actor=user, add=["x"]),
        lambda: services.case_assign(case=case, actor=user, assignee=None),
        lambda: services.case_claim_next(actor=user),
    ]
    for call in calls:
        with pytest.raises(PermissionDeniedError):
            call()
    assert not AuditEvent.objects.filter(case=case).exists()


def test_claim_next_takes_highest_priority_then_oldest(people):
    low = CaseFactory(priority="low", risk_score=71)
    crit_new = CaseFactory(priority="critical", risk_score=95)
    crit_old = CaseFactory(priority="critical", risk_score=93)
    Case.objects.filter(pk=crit_old.pk).update(created_at=timezone.now() - timedelta(hours=3))
    Case.objects.filter(pk=crit_new.pk).update(due_at=None)
    taken = CaseFactory(priority="critical", assignee=people["inv2"])
    first = services.case_claim_next(actor=people["inv"])
    assert first.pk == crit_old.pk
    assert first.status == S.IN_REVIEW and first.assignee == people["inv"]
    assert last_event(first).action == "case.claim"
    second = services.case_claim_next(actor=people["inv"])
    assert second.pk == crit_new.pk
    assert services.case_claim_next(actor=people["inv"]).pk == low.pk
    assert services.case_claim_next(actor=people["inv"]) is None
    taken.refresh_from_db()
    assert taken.assignee == people["inv2"]


# --- escalate ---------------------------------------------------------------------------------


def test_escalate_records_reason_and_note(people):
    case = services.case_start_review(case=CaseFactory(), actor=people["inv"])
    case = services.case_escalate(case=case, actor=people["inv"], reason="Mule pattern")
    assert case.status == S.ESCALATED and case.escalated_at is not None
    assert case.escalation_reason == "Mule pattern"
    ev = last_event(case)
    assert ev.action == "case.escalate" and ev.note == "Mule pattern"
    assert Note.objects.filter(case=case, body__contains="Mule pattern").exists()


def test_escalate_needs_a_reason(people):
    case = CaseFactory()
    with pytest.raises(ApplicationError) as info:
        services.case_escalate(case=case, actor=people["inv"], reason="  ")
    assert "reason" in info.value.extra


@pytest.mark.parametrize("status", [S.ESCALATED, S.PENDING_APPROVAL, S.CLOSED])
def test_escalate_refused_from(people, status):
    case = in_status(status)
    with pytest.raises(ConflictError):
        services.case_escalate(case=case, actor=people["sup"], reason="again")


# --- close, four-eyes -------------------------------------------------------------------------


def test_investigator_closes_a_high_case_directly_and_labels_transactions(people):
    case = CaseFactory(priority="high", risk_score=75, transactions=2)
    case = services.case_close(
        case=case, actor=people["inv"], disposition="fraud_confirmed", note="Confirmed by bank"
    )
    assert case.status == S.CLOSED and case.disposition == "fraud_confirmed"
    assert case.closed_by == people["inv"] and case.closed_at is not None
    assert list(case.transactions.values_list("is_fraud", flat=True)) == [True, True]
    ev = last_event(case)
    assert ev.action == "case.close" and ev.after["labelled_transactions"] == 2


def test_close_needs_disposition_and_note(people):
    case = CaseFactory()
    with pytest.raises(ApplicationError) as info:
        services.case_close(case=case, actor=people["inv"], disposition="maybe", note="x")
    assert "disposition" in info.value.extra
    with pytest.raises(ApplicationError) as info:
        services.case_close(case=case, actor=people["inv"], disposition="legitimate", note="")
    assert "note" in info.value.extra
    case.refresh_from_db()
    assert case.status == S.NEW


@pytest.mark.parametrize("status", [S.PENDING_APPROVAL, S.CLOSED])
def test_close_refused_from(people, status):
    case = in_status(status)
    with pytest.raises(ConflictError):
        services.case_close(case=case, actor=people["sup"], disposition="legitimate", note="n")


def test_investigator_cannot_close_escalated_case(people):
    case = in_status(S.ESCALATED, assignee=people["inv"])
    with pytest.raises(PermissionDeniedError, match="with the supervisors"):
        services.case_close(case=case, actor=people["inv"], disposition="legitimate", note="n")


def test_four_eyes_critical_case_needs_another_supervisor(people):
    case = CaseFactory(priority="critical", risk_level="critical", risk_score=96)
    case = services.case_close(
        case=case, actor=people["inv"], disposition="fraud_confirmed", note="Card stolen"
    )
    assert case.status == S.PENDING_APPROVAL
    assert case.proposed_disposition == "fraud_confirmed" and case.disposition == ""
    assert case.closure_requested_by == people["inv"]
    assert last_event(case).action == "case.request_closure"
    # The investigator cannot approve; supervisors can.
    with pytest.raises(PermissionDeniedError):
        services.case_approve_closure(case=case, actor=people["inv"])
    case = services.case_approve_closure(case=case, actor=people["sup"], note="Agreed")
    assert case.status == S.CLOSED and case.disposition == "fraud_confirmed"
    assert case.closed_by == people["sup"]
    assert last_event(case).action == "case.approve"


@override_settings(CASE_FOUR_EYES_MIN_RISK=60)
def test_four_eyes_threshold_is_configurable(people):
    case = CaseFactory(priority="high", risk_score=65)
    case = services.case_close(case=case, actor=people["inv"], disposition="legitimate", note="ok")
    assert case.status == S.PENDING_APPROVAL


def test_supervisor_closes_critical_case_directly(people):
    case = CaseFactory(priority="critical", risk_score=97)
    case = services.case_close(case=case, actor=people["sup"], disposition="legitimate", note="ok")
    assert case.status == S.CLOSED


def test_closer_cannot_approve_own_closure(people, make_user):
    both = make_user("investigator", "both")
    both.groups.add(people["sup"].groups.first())
    both = type(both).objects.get(pk=both.pk)  # drop the cached roles
    case = CaseFactory(priority="critical", risk_score=97)
    Case.objects.filter(pk=case.pk).update(
        status=S.PENDING_APPROVAL, closure_requested_by=both, proposed_disposition="legitimate"
    )
    case.refresh_from_db()
    with pytest.raises(PermissionDeniedError, match="Four-eyes"):
        services.case_approve_closure(case=case, actor=both)
    assert "case.approve" not in case_available_actions(user=both, case=case)
    assert "case.approve" in case_available_actions(user=people["sup"], case=case)


def test_reject_closure_sends_back_with_note(people):
    case = CaseFactory(priority="critical", risk_score=97)
    case = services.case_close(case=case, actor=people["inv"], disposition="legitimate", note="x")
    with pytest.raises(ApplicationError):
        services.case_reject_closure(case=case, actor=people["sup"], note="")
    case = services.case_reject_closure(case=case, actor=people["sup"], note="Call the bank")
    assert case.status == S.IN_REVIEW and case.proposed_disposition == ""
    assert case.closure_requested_by is None
    assert last_event(case).action == "case.reject_closure"


@pytest.mark.parametrize("status", [S.NEW, S.IN_REVIEW, S.ESCALATED, S.CLOSED])
def test_approve_and_reject_refused_outside_pending(people, status):
    case = in_status(status)
    with pytest.raises(ConflictError):
        services.case_approve_closure(case=case, actor=people["sup"])
    with pytest.raises(ConflictError):
        services.case_reject_closure(case=case, actor=people["sup"], note="n")


# --- reopen -----------------------------------------------------------------------------------


def test_reopen_by_supervisor_only(people):
    case = services.case_close(
        case=CaseFactory(), actor=people["inv"], disposition="legitimate", note="fine"
    )
    with pytest.raises(PermissionDeniedError):
        services.case_reopen(case=case, actor=people["inv"], reason="oops")
    with pytest.raises(ApplicationError):
        services.case_reopen(case=case, actor=people["sup"], reason="")
    case = services.case_reopen(case=case, actor=people["sup"], reason="Chargeback arrived")
    assert case.status == S.IN_REVIEW and case.disposition == "" and case.closed_at is None
    assert case.due_at > timezone.now()
    assert last_event(case).action == "case.reopen"


@pytest.mark.parametrize("status", [S.NEW, S.IN_REVIEW, S.ESCALATED, S.PENDING_APPROVAL])
def test_reopen_refused_when_open(people, status):
    with pytest.raises(ConflictError):
        services.case_reopen(case=in_status(status), actor=people["sup"], reason="r")


def test_reopen_refused_when_account_has_another_open_case(people):
    closed = services.case_close(
        case=CaseFactory(account_id="acct-dup"),
        actor=people["sup"],
        disposition="legitimate",
        note="fine",
    )
    other = CaseFactory(account_id="acct-dup")
    with pytest.raises(ConflictError, match=f"#{other.pk}"):
        services.case_reopen(case=closed, actor=people["sup"], reason="again")
    closed.refresh_from_db()
    assert closed.status == S.CLOSED


# --- notes, tags ------------------------------------------------------------------------------


def test_notes_and_tags(people):
    case = CaseFactory()
    note = services.case_note_add(case=case, actor=people["inv"], body="**Called** the customer")
    assert note.author == people["inv"]
    assert last_event(case).action == "case.note"
    with pytest.raises(ApplicationError):
        services.case_note_add(case=case, actor=people["inv"], body="")
    tags = services.case_tags_update(case=case, actor=people["inv"], add=["Mule", "chargeback"])
    assert tags == ["chargeback", "mule"]
    ev = last_event(case)
    assert ev.action == "case.tag" and ev.before == {"tags": []}
    assert services.case_tags_update(case=case, actor=people["inv"], remove=["mule"]) == [
        "chargeback"
    ]
    with pytest.raises(ApplicationError):
        services.case_tags_update(case=case, actor=people["inv"], add=["bad tag!"])


# --- bulk -------------------------------------------------------------------------------------


def test_bulk_assign_tag_and_close(people):
    cases = [CaseFactory() for _ in range(3)]
    ids = [c.pk for c in cases]
    services.cases_bulk_assign(case_ids=ids, actor=people["sup"], assignee=people["inv"])
    assert set(Case.objects.filter(pk__in=ids).values_list("assignee", flat=True)) == {
        people["inv"].pk
    }
    services.cases_bulk_tag(case_ids=ids, actor=people["inv"], tag="batch-1")
    assert Case.objects.filter(pk__in=ids, tags__name="batch-1").count() == 3
    crit = CaseFactory(priority="critical", risk_score=96, assignee=people["inv"])
    closed = services.cases_bulk_close_legitimate(
        case_ids=[*ids, crit.pk], actor=people["inv"], note="Known payroll run"
    )
    assert sorted(c.status for c in closed) == [S.CLOSED] * 3 + [S.PENDING_APPROVAL]


def test_bulk_is_all_or_nothing(people):
    ok = CaseFactory()
    theirs = CaseFactory(assignee=people["inv2"])
    with pytest.raises(PermissionDeniedError, match=f"Case #{theirs.pk}"):
        services.cases_bulk_close_legitimate(
            case_ids=[ok.pk, theirs.pk], actor=people["inv"], note="n"
        )
    ok.refresh_from_db()
    assert ok.status == S.NEW
    assert not AuditEvent.objects.filter(case=ok).exists()
    with pytest.raises(ApplicationError, match="do not exist"):
        services.cases_bulk_tag(case_ids=[ok.pk, 999999], actor=people["inv"], tag="x")
    with pytest.raises(ApplicationError, match="at least one"):
        services.cases_bulk_tag(case_ids=[], actor=people["inv"], tag="x")


# --- SLA --------------------------------------------------------------------------------------


def test_sla_task_escalates_overdue_cases_and_says_why(people):
    overdue = CaseFactory(priority="critical", due_at=timezone.now() - timedelta(hours=2))
    overdue_review = in_status(S.IN_REVIEW, due_at=timezone.now() - timedelta(minutes=5))
    fine = CaseFactory(due_at=timezone.now() + timedelta(hours=2))
    closed = in_status(S.CLOSED, disposition="legitimate", due_at=timezone.now() - timedelta(1))
    assert escalate_overdue_cases() == 2
    for case in (overdue, overdue_review):
        case.refresh_from_db()
        assert case.status == S.ESCALATED
        ev = last_event(case)
        assert ev.action == "case.sla_escalate" and ev.actor_label == "system:sla-monitor"
        assert "SLA breached" in ev.note and "overdue" in ev.note
    assert "4 h" in last_event(overdue).note
    fine.refresh_from_db()
    closed.refresh_from_db()
    assert fine.status == S.NEW and closed.status == S.CLOSED
    assert escalate_overdue_cases() == 0  # idempotent


def test_available_actions_follow_status_and_role(people):
    case = CaseFactory()
    inv = case_available_actions(user=people["inv"], case=case)
    assert {"case.start_review", "case.escalate", "case.close", "case.note"} <= inv
    assert "case.reopen" not in inv and "case.approve" not in inv
    assert case_available_actions(user=people["auditor"], case=case) == set()
    closed = in_status(S.CLOSED, disposition="legitimate")
    assert case_available_actions(user=people["sup"], case=closed) >= {"case.reopen"}
    assert "case.close" not in case_available_actions(user=people["sup"], case=closed)
