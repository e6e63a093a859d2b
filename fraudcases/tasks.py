"""Celery tasks of the case domain. Thin: they call services."""

from __future__ import annotations

from celery import shared_task

from .services import cases_escalate_overdue


@shared_task(name="fraudcases.escalate_overdue_cases", time_limit=120, soft_time_limit=100)
def escalate_overdue_cases() -> int:
    """Beat task: escalate open cases past their SLA due time (each with an audit event saying
    why). Idempotent: an escalated case is not picked again."""
    return len(cases_escalate_overdue())
