"""The case workflow: claim, assign, review, escalate, close (with four-eyes), approve, reopen."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from core.audit import audit_record
from core.errors import ApplicationError, ConflictError
from core.models import AuditEvent
from core.permissions import ADMIN, INVESTIGATOR, SUPERVISOR, ensure_allowed, user_roles
from scoring.services.labels import transaction_labels_from_disposition

from ..models import Case
from ..routing_selectors import claimable_cases
from ..workflow import ALLOWED_FROM
from ._common import _add_note, _required_text, _sla_due

S = Case.Status
User = AbstractBaseUser
# Audit actions that mean "this person worked on the case" (for the supervisors' four-eyes).
WORKED_ON_ACTIONS = (
    "case.claim",
    "case.start_review",
    "case.escalate",
    "case.note",
    "case.tag",
    "case.attach",
    "case.request_closure",
)


def _locked(case: Case) -> Case:
    """The case re-read under a row lock, so concurrent actions see each other's result."""
    return Case.objects.select_for_update(of=("self",)).select_related("assignee").get(pk=case.pk)


def _ensure_status(case: Case, action: str) -> None:
    allowed = ALLOWED_FROM[action]
    if case.status not in allowed:
        verb = action.split(".", 1)[1].replace("_", " ")
        raise ConflictError(
            f"Case #{case.pk} is {case.get_status_display().lower()}; cannot {verb} it from "
            f"there (allowed from: {', '.join(sorted(allowed))}).",
            {"status": case.status},
        )


def _begin(*, case: Case, actor, action: str) -> tuple[Case, dict]:
    """Start a transition: lock the case, check the role and the status, snapshot it."""
    case = _locked(case)
    ensure_allowed(actor, action, case)
    _ensure_status(case, action)
    return case, case.snapshot()


def _audit_change(
    *, case: Case, actor, action: str, before: dict, note: str = "", extra: dict | None = None
) -> None:
    """Record a transition with the case's state before and after it (plus ``extra`` facts)."""
    after = case.snapshot() | (extra or {})
    audit_record(actor=actor, action=action, obj=case, before=before, after=after, note=note)


def four_eyes_case(case: Case) -> bool:
    """A case whose closure needs two people: critical, or at or above the risk threshold."""
    return (
        case.priority in settings.CASE_FOUR_EYES_PRIORITIES
        or case.risk_score >= settings.CASE_FOUR_EYES_MIN_RISK
    )


def worked_on(case: Case, user) -> bool:
    """The user is the case's assignee or has done investigative work on it (audited)."""
    if case.assignee_id == user.pk:
        return True
    return AuditEvent.objects.filter(
        case=case, actor_id=user.pk, action__in=WORKED_ON_ACTIONS
    ).exists()


def _needs_four_eyes(case: Case, actor) -> bool:
    """Investigators always need a supervisor's approval on a four-eyes case; a supervisor
    needs a second supervisor when they worked on it themselves (``CASE_FOUR_EYES_SUPERVISORS``,
    on by default)."""
    if not four_eyes_case(case):
        return False
    if SUPERVISOR not in user_roles(actor):
        return True
    return settings.CASE_FOUR_EYES_SUPERVISORS and worked_on(case, actor)


def _label_transactions(case: Case, disposition: str) -> int:
    """The disposition as the training label of the case's transactions (see
    ``scoring.services.labels``); ``inconclusive`` or none clears an earlier one."""
    ids = list(case.case_transactions.values_list("transaction_id", flat=True))
    return transaction_labels_from_disposition(transaction_ids=ids, disposition=disposition)


@transaction.atomic
def case_assign(*, case: Case, actor: User, assignee: User | None = None) -> Case:
    """Give the case to ``assignee`` (``None`` unassigns). Investigators take or release only
    their own work; supervisors and admins assign anyone with a case-working role."""
    case = _locked(case)
    ensure_allowed(actor, "case.assign", case)
    _ensure_status(case, "case.assign")
    roles = user_roles(actor)
    if assignee is not None:
        if not user_roles(assignee) & {INVESTIGATOR, SUPERVISOR} or not assignee.is_active:
            raise ApplicationError(
                f"{assignee.get_username()} cannot work cases (needs the investigator or "
                "supervisor role).",
                {"assignee": ["Not an investigator or supervisor."]},
            )
        if not roles & {SUPERVISOR, ADMIN} and assignee.pk != actor.pk:
            raise ApplicationError(
                "Investigators can only assign cases to themselves.",
                {"assignee": ["Only yourself."]},
            )
    if case.assignee_id == (assignee.pk if assignee else None):
        return case
    before = case.snapshot()
    case.assignee = assignee
    case.save(update_fields=["assignee", "updated_at"])
    audit_record(
        actor=actor,
        action="case.assign" if assignee else "case.unassign",
        obj=case,
        before=before,
        after=case.snapshot(),
    )
    return case


@transaction.atomic
def case_take(*, case: Case, actor: User) -> Case:
    """Assign the case to the actor ("assign to me")."""
    return case_assign(case=case, actor=actor, assignee=actor)


@transaction.atomic
def case_claim_next(*, actor: User) -> Case | None:
    """Claim the top new case for ``actor`` and start reviewing it: one already auto-assigned
    to them, else the best unassigned one of their queues (``routing_selectors.claimable_cases``).

    Two investigators pressing "next" at once never get the same case: the claim is a
    conditional update that only one of them can win (and on PostgreSQL rows another
    transaction holds are skipped rather than waited for).
    """
    ensure_allowed(actor, "case.claim")
    for _ in range(20):
        # The person's queues in order, their auto-assigned cases first (routing_selectors).
        candidates = claimable_cases(user=actor)
        if transaction.get_connection().features.has_select_for_update_skip_locked:
            candidates = candidates.select_for_update(skip_locked=True, of=("self",))
        candidate = candidates.first()
        if candidate is None:
            return None
        won = (
            Case.objects.filter(pk=candidate.pk, status=S.NEW, snoozed_until__isnull=True)
            .filter(Q(assignee__isnull=True) | Q(assignee_id=actor.pk))
            .update(assignee=actor, status=S.IN_REVIEW, updated_at=timezone.now())
        )
        if won:
            before = candidate.snapshot()
            case = Case.objects.select_related("assignee").get(pk=candidate.pk)
            audit_record(
                actor=actor,
                action="case.claim",
                obj=case,
                before=before,
                after=case.snapshot(),
                note="Claimed with 'next case'.",
            )
            return case
    raise ConflictError("Too many investigators are claiming cases right now; try again.")


@transaction.atomic
def case_start_review(*, case: Case, actor: User) -> Case:
    """``new`` → ``in_review``; the reviewer takes the case when nobody has it."""
    case, before = _begin(case=case, actor=actor, action="case.start_review")
    case.status = S.IN_REVIEW
    if case.assignee_id is None:
        case.assignee = actor
    case.save(update_fields=["status", "assignee", "updated_at"])
    _audit_change(case=case, actor=actor, action="case.start_review", before=before)
    return case


@transaction.atomic
def case_escalate(*, case: Case, actor: User, reason: str) -> Case:
    """Move a case to the supervisors' escalation queue, with the reason why."""
    reason = _required_text(reason, "reason", "A reason for the escalation")
    case, before = _begin(case=case, actor=actor, action="case.escalate")
    case.status = S.ESCALATED
    case.escalated_at = timezone.now()
    case.escalation_reason = reason
    case.save(update_fields=["status", "escalated_at", "escalation_reason", "updated_at"])
    _add_note(case=case, actor=actor, body=f"**Escalated:** {reason}")
    _audit_change(case=case, actor=actor, action="case.escalate", before=before, note=reason)
    return case


def _finish_close(case: Case, *, disposition: str, closer) -> None:
    case.status = S.CLOSED
    case.disposition = disposition
    case.proposed_disposition = ""
    case.closed_at = timezone.now()
    case.closed_by = closer
    case.save(
        update_fields=[
            "status",
            "disposition",
            "proposed_disposition",
            "closed_at",
            "closed_by",
            "updated_at",
        ]
    )


def _disposition(disposition: str) -> str:
    if disposition not in Case.CLOSING_DISPOSITIONS:  # ``merged`` only by merging
        raise ApplicationError(
            "Choose a disposition.",
            {"disposition": [f"One of: {', '.join(Case.CLOSING_DISPOSITIONS)}."]},
        )
    return disposition


def _request_closure(
    case: Case, *, actor: User, before: dict, disposition: str, note: str, why: str
) -> Case:
    case.status = S.PENDING_APPROVAL
    case.proposed_disposition = disposition
    case.closure_requested_by = actor
    if case.assignee_id is None:
        case.assignee = actor
    case.save(
        update_fields=[
            "status",
            "proposed_disposition",
            "closure_requested_by",
            "assignee",
            "updated_at",
        ]
    )
    label = Case.Disposition(disposition).label
    _add_note(case=case, actor=actor, body=f"**Closure requested ({label}):** {note}")
    _audit_change(
        case=case,
        actor=actor,
        action="case.request_closure",
        before=before,
        note=f"{why} {note}",
        extra={"closing_note": note},  # the approval panel shows it (cases/_detail_summary.html)
    )
    return case


@transaction.atomic
def case_close(*, case: Case, actor: User, disposition: str, note: str) -> Case:
    """Close with a disposition and a required note.

    Four-eyes (a critical case, or one at or above ``CASE_FOUR_EYES_MIN_RISK``): an investigator,
    or a supervisor who worked on the case, only asks for closure; the case waits in
    ``pending_approval`` for a supervisor other than them.
    """
    disposition = _disposition(disposition)
    note = _required_text(note, "note", "A closing note")
    case, before = _begin(case=case, actor=actor, action="case.close")
    if _needs_four_eyes(case, actor):
        return _request_closure(
            case,
            actor=actor,
            before=before,
            disposition=disposition,
            note=note,
            why="Four-eyes: awaiting approval by a supervisor other than the closer.",
        )
    return _close_now(
        case,
        actor=actor,
        before=before,
        disposition=disposition,
        action="case.close",
        body=f"**Closed ({Case.Disposition(disposition).label}):** {note}",
        note=note,
    )


@transaction.atomic
def case_request_closure(*, case: Case, actor: User, disposition: str, note: str) -> Case:
    """Ask a supervisor to approve closing the case with ``disposition`` (also when four-eyes
    does not require it: the closer wants a second opinion)."""
    disposition = _disposition(disposition)
    note = _required_text(note, "note", "A closing note")
    case, before = _begin(case=case, actor=actor, action="case.request_closure")
    return _request_closure(
        case,
        actor=actor,
        before=before,
        disposition=disposition,
        note=note,
        why="Approval requested by the closer.",
    )


@transaction.atomic
def case_approve_closure(*, case: Case, actor: User, note: str = "") -> Case:
    """Four-eyes: a supervisor other than the one who asked confirms the requested closure."""
    case, before = _begin(case=case, actor=actor, action="case.approve")
    disposition = case.proposed_disposition or Case.Disposition.INCONCLUSIVE
    note = (note or "").strip()
    return _close_now(
        case,
        actor=actor,
        before=before,
        disposition=disposition,
        action="case.approve",
        body=f"**Closure approved ({Case.Disposition(disposition).label}).**"
        + (f" {note}" if note else ""),
        note=note,
    )


def _close_now(
    case: Case, *, actor: User, before: dict, disposition: str, action: str, body: str, note: str
) -> Case:
    """Close with ``disposition``, label the case's transactions from it, add the closing note
    and audit ``action`` with how many transactions were labelled (close and approve alike)."""
    _finish_close(case, disposition=disposition, closer=actor)
    labelled = _label_transactions(case, disposition)
    _add_note(case=case, actor=actor, body=body)
    _audit_change(
        case=case,
        actor=actor,
        action=action,
        before=before,
        note=note,
        extra={"labelled_transactions": labelled},
    )
    return case


@transaction.atomic
def case_reject_closure(*, case: Case, actor: User, note: str) -> Case:
    """Send a requested closure back to review, with a note saying what is missing."""
    note = _required_text(note, "note", "A note for the investigator")
    case, before = _begin(case=case, actor=actor, action="case.reject_closure")
    case.status = S.IN_REVIEW
    case.proposed_disposition = ""
    case.closure_requested_by = None
    case.save(
        update_fields=["status", "proposed_disposition", "closure_requested_by", "updated_at"]
    )
    _add_note(case=case, actor=actor, body=f"**Closure sent back:** {note}")
    _audit_change(case=case, actor=actor, action="case.reject_closure", before=before, note=note)
    return case


@transaction.atomic
def case_reopen(*, case: Case, actor: User, reason: str) -> Case:
    """``closed`` → ``in_review`` (supervisors), with a fresh SLA window; the disposition's
    training labels are cleared (the audit event says how many)."""
    reason = _required_text(reason, "reason", "A reason for reopening")
    case, before = _begin(case=case, actor=actor, action="case.reopen")
    case.status = S.IN_REVIEW
    case.disposition = ""
    case.closed_at = None
    case.closed_by = None
    case.closure_requested_by = None
    case.due_at = _sla_due(case.priority)
    try:
        with transaction.atomic():
            case.save(
                update_fields=[
                    "status",
                    "disposition",
                    "closed_at",
                    "closed_by",
                    "closure_requested_by",
                    "due_at",
                    "updated_at",
                ]
            )
    except IntegrityError as exc:
        other = (
            Case.objects.filter(
                account_id=case.account_id, trigger=case.trigger, status__in=Case.OPEN_STATUSES
            )
            .exclude(pk=case.pk)
            .values_list("pk", flat=True)
            .first()
        )
        raise ConflictError(
            f"Account {case.account_id} already has an open case (#{other}); work that one "
            "instead of reopening this.",
            {"open_case": other},
        ) from exc
    cleared = _label_transactions(case, "")
    _add_note(case=case, actor=actor, body=f"**Reopened:** {reason}")
    _audit_change(
        case=case,
        actor=actor,
        action="case.reopen",
        before=before,
        note=reason,
        extra={"labels_cleared": cleared},
    )
    return case
