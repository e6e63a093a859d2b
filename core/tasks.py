"""Celery beat tasks of the kernel: the audit chain's anchor and check, old sign-in failures.
Thin: they call the kernel's services."""

from __future__ import annotations

import logging

from celery import shared_task

from .audit import AnchorRefusedError, audit_anchor_write, audit_check_run
from .login import login_failures_purge

logger = logging.getLogger(__name__)


@shared_task(name="core.purge_login_failures", time_limit=60, soft_time_limit=50)
def purge_login_failures() -> int:
    """Beat task: delete sign-in failures older than the lockout window (they no longer count).
    Idempotent; returns how many rows went."""
    return login_failures_purge()


@shared_task(name="core.audit_anchor", time_limit=300, soft_time_limit=240)
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


@shared_task(name="core.audit_verify", time_limit=1800, soft_time_limit=1500)
def audit_verify() -> bool:
    """Beat task: verify the audit chain against every anchor and store the outcome
    (``core.audit.audit_last_check`` reads it for /healthz and /metrics)."""
    return audit_check_run().ok
