"""Write-side business logic of the case domain. Every change is audited."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from scoring.models import Transaction

from .audit import PendingEvent, audit_record, audit_record_many
from .errors import ApplicationError, ConflictError
from .models import Attachment, Case, CaseTransaction, LoginFailure, Note, Tag
from .permissions import INVESTIGATOR, SUPERVISOR, ensure_allowed, user_roles

SYSTEM_WORKER = "system:scoring-worker"
LEVEL_RANK = {"low": 1, "medium": 2, "high": 3, "critical": 4}


@dataclass
class CaseHit:
    """Risky transactions of one account found by one scoring batch."""

    account_id: str
    transaction_ids: list[int] = field(default_factory=list)
    risk_score: int = 0
    risk_level: str = "high"
    reasons: list[str] = field(default_factory=list)
    model_version: str = ""


def _sla_due(priority: str):
    hours = settings.CASE_SLA_HOURS.get(priority, settings.CASE_SLA_HOURS["low"])
    return timezone.now() + timedelta(hours=hours)


def _title(hit: CaseHit) -> str:
    lead = hit.reasons[0] if hit.reasons else "high risk score"
    return f"{hit.risk_level.capitalize()} risk on {hit.account_id}: {lead}"[:200]


def _open_case(hit: CaseHit) -> tuple[Case, bool]:
    """Create the account's open case, or get it when another worker just created it."""
    try:
        with transaction.atomic():
            case = Case.objects.create(
                account_id=hit.account_id,
                trigger="risk_score",
                title=_title(hit),
                priority=hit.risk_level,
                risk_score=hit.risk_score,
                risk_level=hit.risk_level,
                due_at=_sla_due(hit.risk_level),
            )
        return case, True
    except IntegrityError:
        case = Case.objects.select_for_update().get(
            account_id=hit.account_id, trigger="risk_score", status__in=Case.OPEN_STATUSES
        )
        return case, False


@transaction.atomic
def cases_open_or_attach(*, hits: list[CaseHit]) -> list[Case]:
    """Open a case per account with risky transactions, or attach them to its open case.

    Idempotent: a transaction belongs to at most one case, and a re-run attaches nothing twice.
    A more severe hit raises the open case's priority (never lowers it).
    """
    if not hits:
        return []
    open_cases = {
        c.account_id: c
        for c in Case.objects.select_for_update().filter(
            account_id__in=[h.account_id for h in hits],
            trigger="risk_score",
            status__in=Case.OPEN_STATUSES,
        )
    }
    already_linked = set(
        CaseTransaction.objects.filter(
            transaction_id__in=[t for h in hits for t in h.transaction_ids]
        ).values_list("transaction_id", flat=True)
    )
    events: list[PendingEvent] = []
    links: list[CaseTransaction] = []
    touched: list[Case] = []
    for hit in hits:
        new_ids = [t for t in hit.transaction_ids if t not in already_linked]
        if not new_ids:
            continue
        case = open_cases.get(hit.account_id)
        created = False
        if case is None:
            case, created = _open_case(hit)
            open_cases[hit.account_id] = case
        if created:
            events.append(
                PendingEvent(
                    action="case.open",
                    actor_label=SYSTEM_WORKER,
                    case=case,
                    after=case.snapshot() | {"transactions": new_ids},
                    note=f"Opened by model {hit.model_version}: " + "; ".join(hit.reasons[:3]),
                )
            )
        else:
            before = case.snapshot()
            if LEVEL_RANK.get(hit.risk_level, 0) > LEVEL_RANK.get(case.priority, 0):
                case.priority = hit.risk_level
                case.risk_level = hit.risk_level
                case.due_at = min(case.due_at or _sla_due(hit.risk_level), _sla_due(hit.risk_level))
            case.risk_score = max(case.risk_score, hit.risk_score)
            case.save(
                update_fields=["priority", "risk_level", "risk_score", "due_at", "updated_at"]
            )
            events.append(
                PendingEvent(
                    action="case.attach_transactions",
                    actor_label=SYSTEM_WORKER,
                    case=case,
                    before=before,
                    after=case.snapshot() | {"transactions": new_ids},
                    note="; ".join(hit.reasons[:3]),
                )
            )
        links.extend(CaseTransaction(case=case, transaction_id=t) for t in new_ids)
        touched.append(case)
    CaseTransaction.objects.bulk_create(links, ignore_conflicts=True)
    audit_record_many(events=events)
    return touched


# --- The investigator workflow ----------------------------------------------------------------

S = Case.Status
SYSTEM_SLA = "system:sla-monitor"
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
_TAG_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,49}$")


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


def _required_text(value: str | None, field_name: str, what: str) -> str:
    text = (value or "").strip()
    if not text:
        raise ApplicationError(f"{what} is required.", {field_name: [f"{what} is required."]})
    if len(text) > 10_000:
        raise ApplicationError(f"{what} is too long.", {field_name: ["At most 10,000 characters."]})
    return text


def _add_note(*, case: Case, actor, body: str) -> Note:
    return Note.objects.create(case=case, author=actor, body=body)


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


@transaction.atomic
def case_note_add(*, case: Case, actor, body: str) -> Note:
    """Add a markdown note to the case."""
    body = _required_text(body, "body", "The note")
    case = _locked(case)
    ensure_allowed(actor, "case.note", case)
    note = _add_note(case=case, actor=actor, body=body)
    audit_record(actor=actor, action="case.note", obj=note, case=case, after={"body": body})
    return note


def _clean_tags(names: list[str]) -> list[str]:
    clean = []
    for raw in names:
        name = raw.strip().lower()
        if not name:
            continue
        if not _TAG_NAME.match(name):
            raise ApplicationError(
                f"'{raw}' is not a valid tag.",
                {"tags": ["Lowercase letters, digits, '-' and '_' only; at most 50 characters."]},
            )
        clean.append(name)
    return sorted(set(clean))


@transaction.atomic
def case_tags_update(
    *, case: Case, actor, add: list[str] | None = None, remove: list[str] | None = None
) -> list[str]:
    """Add and remove tags on a case; returns the case's tags afterwards."""
    to_add, to_remove = _clean_tags(add or []), _clean_tags(remove or [])
    if not to_add and not to_remove:
        raise ApplicationError("Name at least one tag.", {"tags": ["Name at least one tag."]})
    case = _locked(case)
    ensure_allowed(actor, "case.tag", case)
    before = sorted(case.tags.values_list("name", flat=True))
    for name in to_add:
        tag, _ = Tag.objects.get_or_create(name=name)
        case.tags.add(tag)
    if to_remove:
        case.tags.remove(*Tag.objects.filter(name__in=to_remove))
    after = sorted(case.tags.values_list("name", flat=True))
    if after != before:
        case.save(update_fields=["updated_at"])
        audit_record(
            actor=actor, action="case.tag", obj=case, before={"tags": before}, after={"tags": after}
        )
    return after


def _attachment_type(upload: UploadedFile) -> str:
    suffix = Path(upload.name or "").suffix.lower()
    allowed: dict[str, str] = settings.ATTACHMENT_ALLOWED_TYPES
    if suffix not in allowed:
        raise ApplicationError(
            f"Files of type '{suffix or 'none'}' are not accepted.",
            {"file": [f"Allowed: {', '.join(sorted(allowed))}."]},
        )
    return allowed[suffix]


@transaction.atomic
def attachment_add(*, case: Case, actor, upload: UploadedFile) -> Attachment:
    """Store an evidence file privately (outside the web root) and link it to the case."""
    if upload is None:
        raise ApplicationError("Choose a file.", {"file": ["Choose a file."]})
    if upload.size > settings.ATTACHMENT_MAX_BYTES:
        raise ApplicationError(
            f"The file is {upload.size:,} bytes; the limit is "
            f"{settings.ATTACHMENT_MAX_BYTES:,} bytes.",
            {"file": ["File too large."]},
        )
    if upload.size == 0:
        raise ApplicationError("The file is empty.", {"file": ["The file is empty."]})
    content_type = _attachment_type(upload)
    case = _locked(case)
    ensure_allowed(actor, "case.attach", case)
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    original = Path(upload.name).name[:255]
    attachment = Attachment(
        case=case,
        uploaded_by=actor,
        original_name=original,
        content_type=content_type,
        size=upload.size,
        sha256=digest.hexdigest(),
    )
    # The stored name is random: user-supplied names never reach the file system.
    attachment.file.save(f"{digest.hexdigest()[:16]}{Path(original).suffix.lower()}", upload)
    audit_record(
        actor=actor,
        action="case.attach",
        obj=attachment,
        case=case,
        after={"name": original, "size": upload.size, "sha256": attachment.sha256},
    )
    return attachment


@transaction.atomic
def attachment_download_record(*, attachment: Attachment, actor) -> Attachment:
    """Check the reader may download the file, and record that they did."""
    ensure_allowed(actor, "case.attachment_download", attachment.case)
    audit_record(
        actor=actor,
        action="case.attachment_download",
        obj=attachment,
        case=attachment.case,
        after={"name": attachment.original_name, "sha256": attachment.sha256},
    )
    return attachment


# --- Bulk actions (all or nothing: one refused case refuses the batch, naming it) -------------


def _bulk_cases(case_ids: list[int], actor) -> list[Case]:
    ensure_allowed(actor, "case.bulk")
    ids = sorted({int(i) for i in case_ids})
    if not ids:
        raise ApplicationError("Select at least one case.", {"cases": ["Select at least one."]})
    if len(ids) > settings.CASE_BULK_MAX:
        raise ApplicationError(
            f"At most {settings.CASE_BULK_MAX} cases at once.", {"cases": ["Too many."]}
        )
    cases = list(Case.objects.filter(pk__in=ids))
    missing = sorted(set(ids) - {c.pk for c in cases})
    if missing:
        raise ApplicationError(
            f"Case(s) {', '.join(f'#{m}' for m in missing)} do not exist.", {"cases": missing}
        )
    return cases


def _bulk(cases: list[Case], run) -> list[Any]:
    results = []
    for case in cases:
        try:
            results.append(run(case))
        except ApplicationError as exc:
            raise type(exc)(
                f"Case #{case.pk}: {exc.message} Nothing was changed.", exc.extra
            ) from exc
    return results


@transaction.atomic
def cases_bulk_assign(*, case_ids: list[int], actor, assignee) -> list[Case]:
    """Assign many cases at once."""
    cases = _bulk_cases(case_ids, actor)
    return _bulk(cases, lambda c: case_assign(case=c, actor=actor, assignee=assignee))


@transaction.atomic
def cases_bulk_tag(*, case_ids: list[int], actor, tag: str) -> list[Case]:
    """Put one tag on many cases."""
    cases = _bulk_cases(case_ids, actor)
    _bulk(cases, lambda c: case_tags_update(case=c, actor=actor, add=[tag]))
    return cases


@transaction.atomic
def cases_bulk_close_legitimate(*, case_ids: list[int], actor, note: str) -> list[Case]:
    """Close many cases as legitimate with one note (four-eyes still applies per case)."""
    _required_text(note, "note", "A closing note")
    cases = _bulk_cases(case_ids, actor)
    return _bulk(
        cases,
        lambda c: case_close(
            case=c, actor=actor, disposition=Case.Disposition.LEGITIMATE, note=note
        ),
    )


# --- SLA --------------------------------------------------------------------------------------


@transaction.atomic
def cases_escalate_overdue(*, now: datetime | None = None, limit: int = 500) -> list[Case]:
    """Escalate open cases past their SLA due time that nobody escalated yet, saying why."""
    now = now or timezone.now()
    overdue = Case.objects.filter(status__in=(S.NEW, S.IN_REVIEW), due_at__lt=now).order_by(
        "due_at"
    )
    if transaction.get_connection().features.has_select_for_update_skip_locked:
        overdue = overdue.select_for_update(skip_locked=True, of=("self",))
    events: list[PendingEvent] = []
    escalated: list[Case] = []
    for case in overdue.select_related("assignee")[:limit]:
        before = case.snapshot()
        hours = settings.CASE_SLA_HOURS.get(case.priority, settings.CASE_SLA_HOURS["low"])
        late = now - case.due_at
        reason = (
            f"SLA breached: {case.get_priority_display().lower()} cases are due within {hours} h; "
            f"this one was due {case.due_at:%Y-%m-%d %H:%M} UTC and is "
            f"{late.total_seconds() / 3600:.1f} h overdue "
            f"while {case.get_status_display().lower()}."
        )
        case.status = S.ESCALATED
        case.escalated_at = now
        case.escalation_reason = reason
        case.save(update_fields=["status", "escalated_at", "escalation_reason", "updated_at"])
        events.append(
            PendingEvent(
                action="case.sla_escalate",
                actor_label=SYSTEM_SLA,
                case=case,
                before=before,
                after=case.snapshot(),
                note=reason,
            )
        )
        escalated.append(case)
    audit_record_many(events=events)
    return escalated


# --- Sign-in hardening ------------------------------------------------------------------------


def login_locked_until(*, username: str, ip_address: str | None) -> datetime | None:
    """When the username+address pair is locked out, the time the lock lifts; else ``None``."""
    window = timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES)
    since = timezone.now() - window
    failures = list(
        LoginFailure.objects.filter(
            username=username.lower(), ip_address=ip_address, created_at__gte=since
        )
        .order_by("-created_at")
        .values_list("created_at", flat=True)[: settings.LOGIN_LOCKOUT_FAILURES]
    )
    if len(failures) < settings.LOGIN_LOCKOUT_FAILURES:
        return None
    return failures[0] + window


@transaction.atomic
def login_failure_record(*, username: str, ip_address: str | None) -> datetime | None:
    """Count a failed sign-in; returns the lock's end when this failure locks the pair."""
    # Failures older than the window no longer count: drop them so the table stays small.
    LoginFailure.objects.filter(
        username=username.lower()[:150],
        created_at__lt=timezone.now() - timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES),
    ).delete()
    LoginFailure.objects.create(username=username.lower()[:150], ip_address=ip_address)
    until = login_locked_until(username=username, ip_address=ip_address)
    if until is not None:
        count = LoginFailure.objects.filter(
            username=username.lower(),
            ip_address=ip_address,
            created_at__gte=timezone.now() - timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES),
        ).count()
        if count == settings.LOGIN_LOCKOUT_FAILURES:
            audit_record(
                action="auth.lockout",
                actor_label=f"anonymous:{username[:100]}",
                after={"username": username[:150], "until": until.isoformat()},
                ip_address=ip_address,
                note=f"{count} failed sign-ins; locked until {until:%H:%M} UTC.",
            )
    return until


@transaction.atomic
def login_success_record(*, user, ip_address: str | None) -> None:
    """Clear the pair's failures and record the sign-in."""
    LoginFailure.objects.filter(
        username=user.get_username().lower(), ip_address=ip_address
    ).delete()
    audit_record(actor=user, action="auth.login", obj=user, ip_address=ip_address)
