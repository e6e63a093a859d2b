"""Celery tasks of the case domain. Thin: they call services."""

from __future__ import annotations

import logging

from celery import shared_task

from .audit import AnchorRefusedError, audit_anchor_write, audit_check_run
from .services import cases_escalate_overdue, login_failures_purge
from .services.routing import cases_assign_waiting
from .services.snooze import cases_wake_due

logger = logging.getLogger(__name__)


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


@shared_task(name="fraudcases.purge_login_failures", time_limit=60, soft_time_limit=50)
def purge_login_failures() -> int:
    """Beat task: delete sign-in failures older than the lockout window (they no longer count).
    Idempotent; returns how many rows went."""
    return login_failures_purge()


@shared_task(name="fraudcases.audit_anchor", time_limit=300, soft_time_limit=240)
def audit_anchor() -> int | None:
    """Beat task: append the audit chain's head to the anchor file outside the database.

    Idempotent (an unchanged head writes nothing); refuses, and logs an error, when the head
    does not extend the latest anchor. Returns the anchored event count. No retries: the next
    beat run is the retry."""
    try:
        anchor = audit_anchor_write()
    except AnchorRefusedError as exc:
        logger.error("Audit anchor refused: %s", exc)
        return None
    return anchor.seq if anchor else None


@shared_task(name="fraudcases.audit_verify", time_limit=1800, soft_time_limit=1500)
def audit_verify() -> bool:
    """Beat task: verify the audit chain against every anchor and store the outcome
    (``fraudcases.audit.audit_last_check`` reads it for /healthz and /metrics)."""
    return audit_check_run().ok
