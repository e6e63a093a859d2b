"""Snooze: put a case aside until a time ("waiting for customer / merchant"), and wake it.

A snoozed case leaves the active queue (``CaseFilter`` ``snoozed=active``; ``/cases/next/``
never claims it). It wakes, audited as ``case.wake``, when a person wakes it, when its time
comes (the beat task ``fraudcases.wake_snoozed_cases``), or when a new risky transaction
attaches to it (``fraudcases.services.opening``). With ``CASE_SNOOZE_PAUSES_SLA`` (default
true) the SLA clock stops while snoozed: waking adds the snoozed time to the due time, and the
SLA monitor does not escalate a snoozed case.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from core.audit import PendingEvent, audit_record_many
from core.errors import ApplicationError, ConflictError

from ..models import Case
from ._common import _add_note, _required_text
from .transitions import _audit_change, _begin

User = AbstractBaseUser
SYSTEM_SNOOZE = "system:snooze-clock"


def _until(until: datetime | None, now: datetime) -> datetime:
    if until is None:
        raise ApplicationError("A wake-up time is required.", {"until": ["Required."]})
    if timezone.is_naive(until):
        raise ApplicationError(
            "The wake-up time needs a time zone.", {"until": ["Give a time zone (e.g. Z)."]}
        )
    if until <= now:
        raise ApplicationError(
            "The wake-up time must be in the future.", {"until": ["Must be in the future."]}
        )
    limit = now + timedelta(days=settings.CASE_SNOOZE_MAX_DAYS)
    if until > limit:
        raise ApplicationError(
            f"A case can be snoozed for at most {settings.CASE_SNOOZE_MAX_DAYS} days.",
            {"until": [f"At most {settings.CASE_SNOOZE_MAX_DAYS} days ahead."]},
        )
    return until


@transaction.atomic
def case_snooze(*, case: Case, actor: User, until: datetime, reason: str) -> Case:
    """Put the case aside until ``until`` with a reason; snoozing again moves the time."""
    reason = _required_text(reason, "reason", "A reason for the snooze")
    now = timezone.now()
    until = _until(until, now)
    case, before = _begin(case=case, actor=actor, action="case.snooze")
    case.snoozed_until = until
    case.snoozed_at = case.snoozed_at or now  # a re-snooze keeps the paused SLA time so far
    case.snoozed_by = actor
    case.snooze_reason = reason
    case.save(
        update_fields=["snoozed_until", "snoozed_at", "snoozed_by", "snooze_reason", "updated_at"]
    )
    _add_note(
        case=case, actor=actor, body=f"**Snoozed until {until:%Y-%m-%d %H:%M} UTC:** {reason}"
    )
    _audit_change(case=case, actor=actor, action="case.snooze", before=before, note=reason)
    return case


def _clear_snooze(case: Case, *, now: datetime) -> dict:
    """Wake the case in memory and save it; returns the audit facts (SLA shift)."""
    shift = timedelta(0)
    if case.snooze_pauses_sla and case.snoozed_at and case.due_at:  # per queue (routing)
        shift = max(now - case.snoozed_at, timedelta(0))
        case.due_at = case.due_at + shift
    case.snoozed_until = None
    case.snoozed_at = None
    case.snoozed_by = None
    case.snooze_reason = ""
    case.save(
        update_fields=[
            "snoozed_until",
            "snoozed_at",
            "snoozed_by",
            "snooze_reason",
            "due_at",
            "updated_at",
        ]
    )
    return {"sla_paused_seconds": int(shift.total_seconds())}


@transaction.atomic
def case_wake(*, case: Case, actor: User, note: str = "") -> Case:
    """Bring a snoozed case back to the active queue now."""
    case, before = _begin(case=case, actor=actor, action="case.wake")
    if case.snoozed_until is None:
        raise ConflictError(f"Case #{case.pk} is not snoozed.", {"snoozed_until": None})
    extra = _clear_snooze(case, now=timezone.now())
    note = (note or "").strip()
    _add_note(case=case, actor=actor, body="**Woken.**" + (f" {note}" if note else ""))
    _audit_change(case=case, actor=actor, action="case.wake", before=before, note=note, extra=extra)
    return case


def case_wake_event(*, case: Case, why: str, now: datetime | None = None) -> PendingEvent:
    """Wake a snoozed case (already locked by the caller, in its transaction) on behalf of the
    system, and return the audit event for the caller to record with its own."""
    before = case.snapshot()
    extra = _clear_snooze(case, now=now or timezone.now())
    return PendingEvent(
        action="case.wake",
        actor_label=SYSTEM_SNOOZE,
        case=case,
        before=before,
        after=case.snapshot() | extra,
        note=why,
    )


@transaction.atomic
def cases_wake_due(*, now: datetime | None = None, limit: int = 500) -> list[Case]:
    """Wake every snoozed case whose time has come (oldest first, at most ``limit``).
    Idempotent: a woken case is no longer snoozed and is not picked again."""
    now = now or timezone.now()
    due = Case.objects.filter(snoozed_until__lte=now).order_by("snoozed_until", "id")
    if transaction.get_connection().features.has_select_for_update_skip_locked:
        due = due.select_for_update(skip_locked=True, of=("self",))
    woken: list[Case] = []
    events: list[PendingEvent] = []
    for case in due.select_related("assignee", "queue")[:limit]:
        until = case.snoozed_until
        events.append(
            case_wake_event(case=case, why=f"Snooze ended ({until:%Y-%m-%d %H:%M} UTC).", now=now)
        )
        woken.append(case)
    audit_record_many(events=events)
    return woken
