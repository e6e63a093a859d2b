"""Celery tasks of the case domain. Thin: they call services."""

from __future__ import annotations

from celery import shared_task

from .services import cases_escalate_overdue
from .services.routing import cases_assign_waiting
from .services.snooze import cases_wake_due


@shared_task(name="fraudcases.escalate_overdue_cases", time_limit=120, soft_time_limit=100)
def escalate_overdue_cases() -> int:
    """Beat task: escalate open cases past their SLA due time (each with an audit event saying
    why). Idempotent: an escalated case is not picked again."""
    return len(cases_escalate_overdue())


@shared_task(name="fraudcases.wake_snoozed_cases", time_limit=120, soft_time_limit=100)
def wake_snoozed_cases() -> int:
    """Beat task: wake snoozed cases whose time has come (each with a ``case.wake`` audit
    event). Idempotent: a woken case is not snoozed any more. No retries: the next beat run
    (every minute) is the retry."""
    return len(cases_wake_due())


@shared_task(name="fraudcases.assign_waiting_cases", time_limit=120, soft_time_limit=100)
def assign_waiting_cases() -> int:
    """Beat task: hand the unassigned cases of auto-assigning queues to members who have room
    again (each with a ``case.auto_assign`` audit event saying why). Idempotent: an assigned
    case is not picked again. No retries: the next beat run (every minute) is the retry."""
    return len(cases_assign_waiting())
