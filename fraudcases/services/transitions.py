"""The case workflow: claim, assign, review, escalate, close (with four-eyes), approve, reopen."""

from __future__ import annotations

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from scoring.models import Transaction

from ..audit import audit_record
from ..errors import ApplicationError, ConflictError
from ..models import Case
from ..permissions import INVESTIGATOR, SUPERVISOR, ensure_allowed, user_roles
from ._common import _add_note, _required_text, _sla_due

S = Case.Status
# From which statuses each case action may be taken (the contract's state machine).
ALLOWED_FROM: dict[str, frozenset[str]] = {
    "case.claim": frozenset({S.NEW}),
    "case.assign": frozenset({S.NEW, S.IN_REVIEW, S.ESCALATED, S.PENDING_APPROVAL}),
    "case.start_review": frozenset({S.NEW}),
    "case.escalate": frozenset({S.NEW, S.IN_REVIEW}),
    "case.close": frozenset({S.NEW, S.IN_REVIEW, S.ESCALATED}),
    "case.approve": frozenset({S.PENDING_APPROVAL}),
    "case.reject_closure": frozenset({S.PENDING_APPROVAL}),
    "case.reopen": frozenset({S.CLOSED}),
    "case.note": frozenset(S.values),
    "case.tag": frozenset(S.values),
    "case.attach": frozenset(S.values),
}


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


def _needs_four_eyes(case: Case, actor) -> bool:
    if SUPERVISOR in user_roles(actor):
        return False
    return (
        case.priority in settings.CASE_FOUR_EYES_PRIORITIES
        or case.risk_score >= settings.CASE_FOUR_EYES_MIN_RISK
    )


def _label_transactions(case: Case, disposition: str) -> int:
    """Feed the disposition back as ground truth on the case's transactions (for retraining)."""
    label = {"fraud_confirmed": True, "legitimate": False}.get(disposition)
    if label is None:
        return 0
    return Transaction.objects.filter(case_link__case=case).update(is_fraud=label)


@transaction.atomic
def case_assign(*, case: Case, actor, assignee=None) -> Case:
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
        if not roles & {SUPERVISOR, "admin"} and assignee.pk != actor.pk:
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
def case_claim_next(*, actor) -> Case | None:
    """Claim the highest-priority unassigned new case for ``actor`` and start reviewing it.

    Two investigators pressing "next" at once never get the same case: the claim is a
    conditional update that only one of them can win (and on PostgreSQL rows another
    transaction holds are skipped rather than waited for).
    """
    ensure_allowed(actor, "case.claim")
    for _ in range(20):
        candidates = Case.objects.filter(status=S.NEW, assignee__isnull=True).order_by(
            "-priority_rank", F("due_at").asc(nulls_last=True), "created_at", "id"
        )
        if transaction.get_connection().features.has_select_for_update_skip_locked:
            candidates = candidates.select_for_update(skip_locked=True)
        candidate = candidates.first()
        if candidate is None:
            return None
        won = Case.objects.filter(pk=candidate.pk, status=S.NEW, assignee__isnull=True).update(
            assignee=actor, status=S.IN_REVIEW, updated_at=timezone.now()
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
def case_start_review(*, case: Case, actor) -> Case:
    """``new`` → ``in_review``; the reviewer takes the case when nobody has it."""
    case, before = _begin(case=case, actor=actor, action="case.start_review")
    case.status = S.IN_REVIEW
    if case.assignee_id is None:
        case.assignee = actor
    case.save(update_fields=["status", "assignee", "updated_at"])
    _audit_change(case=case, actor=actor, action="case.start_review", before=before)
    return case


@transaction.atomic
def case_escalate(*, case: Case, actor, reason: str) -> Case:
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


@transaction.atomic
def case_close(*, case: Case, actor, disposition: str, note: str) -> Case:
    """Close with a disposition and a required note.

    An investigator closing a critical case (or one at or above ``CASE_FOUR_EYES_MIN_RISK``)
    only asks for closure: the case waits in ``pending_approval`` for another supervisor.
    """
    if disposition not in Case.Disposition.values:
        raise ApplicationError(
            "Choose a disposition.",
            {"disposition": [f"One of: {', '.join(Case.Disposition.values)}."]},
        )
    note = _required_text(note, "note", "A closing note")
    case, before = _begin(case=case, actor=actor, action="case.close")
    label = Case.Disposition(disposition).label
    if _needs_four_eyes(case, actor):
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
        _add_note(case=case, actor=actor, body=f"**Closure requested ({label}):** {note}")
        _audit_change(
            case=case,
            actor=actor,
            action="case.request_closure",
            before=before,
            note=f"Four-eyes: awaiting supervisor approval. {note}",
        )
        return case
    _finish_close(case, disposition=disposition, closer=actor)
    labelled = _label_transactions(case, disposition)
    _add_note(case=case, actor=actor, body=f"**Closed ({label}):** {note}")
    _audit_change(
        case=case,
        actor=actor,
        action="case.close",
        before=before,
        note=note,
        extra={"labelled_transactions": labelled},
    )
    return case


@transaction.atomic
def case_approve_closure(*, case: Case, actor, note: str = "") -> Case:
    """Four-eyes: a supervisor other than the closer confirms the requested closure."""
    case, before = _begin(case=case, actor=actor, action="case.approve")
    disposition = case.proposed_disposition or Case.Disposition.INCONCLUSIVE
    _finish_close(case, disposition=disposition, closer=actor)
    labelled = _label_transactions(case, disposition)
    note = (note or "").strip()
    _add_note(
        case=case,
        actor=actor,
        body=f"**Closure approved ({Case.Disposition(disposition).label}).**"
        + (f" {note}" if note else ""),
    )
    _audit_change(
        case=case,
        actor=actor,
        action="case.approve",
        before=before,
        note=note,
        extra={"labelled_transactions": labelled},
    )
    return case


@transaction.atomic
def case_reject_closure(*, case: Case, actor, note: str) -> Case:
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
def case_reopen(*, case: Case, actor, reason: str) -> Case:
    """``closed`` → ``in_review`` (supervisors), with a fresh SLA window."""
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
    _add_note(case=case, actor=actor, body=f"**Reopened:** {reason}")
    _audit_change(case=case, actor=actor, action="case.reopen", before=before, note=reason)
    return case
