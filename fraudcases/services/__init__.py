"""Write-side business logic of the case domain, by sub-domain. Every change is audited.

- ``opening``: cases opened (or attached to) by the scoring worker;
- ``transitions``: the investigator workflow (claim, assign, escalate, close, approve, reopen);
- ``evidence``: notes, tags, attachments;
- ``bulk``: all-or-nothing bulk actions;
- ``sla``: the SLA monitor;
- ``login``: sign-in lockout bookkeeping.
"""

from ._common import LEVEL_RANK, SYSTEM_SLA, SYSTEM_WORKER
from .bulk import cases_bulk_assign, cases_bulk_close_legitimate, cases_bulk_tag
from .evidence import attachment_add, attachment_download_record, case_note_add, case_tags_update
from .login import login_failure_record, login_locked_until, login_success_record
from .opening import CaseHit, cases_open_or_attach
from .sla import cases_escalate_overdue
from .transitions import (
    ALLOWED_FROM,
    case_approve_closure,
    case_assign,
    case_claim_next,
    case_close,
    case_escalate,
    case_reject_closure,
    case_reopen,
    case_start_review,
)

__all__ = [
    "ALLOWED_FROM",
    "LEVEL_RANK",
    "SYSTEM_SLA",
    "SYSTEM_WORKER",
    "CaseHit",
    "attachment_add",
    "attachment_download_record",
    "case_approve_closure",
    "case_assign",
    "case_claim_next",
    "case_close",
    "case_escalate",
    "case_note_add",
    "case_reject_closure",
    "case_reopen",
    "case_start_review",
    "case_tags_update",
    "cases_bulk_assign",
    "cases_bulk_close_legitimate",
    "cases_bulk_tag",
    "cases_escalate_overdue",
    "cases_open_or_attach",
    "login_failure_record",
    "login_locked_until",
    "login_success_record",
]
