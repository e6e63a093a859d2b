"""SLA monitoring: escalate open cases past their due time."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.audit import PendingEvent, audit_record_many

from ..models import Case
from ._common import SYSTEM_SLA
from .routing import sla_paused_q

S = Case.Status


@transaction.atomic
def cases_escalate_overdue(*, now: datetime | None = None, limit: int = 500) -> list[Case]:
    """Escalate open cases past their SLA due time that nobody escalated yet, saying why."""
    now = now or timezone.now()
    overdue = Case.objects.filter(status__in=(S.NEW, S.IN_REVIEW), due_at__lt=now).order_by(
        "due_at"
    )
    # A snoozed case's clock is stopped where its queue says so (services.snooze, routing).
    overdue = overdue.exclude(sla_paused_q())
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
