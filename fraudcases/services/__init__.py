"""Write-side business logic of the case domain, by sub-domain. Every change is audited.

- ``opening``: cases opened (or attached to) by the scoring worker;
- ``transitions``: the investigator workflow (claim, assign, escalate, close, approve, reopen);
  which action is allowed from where, for whom, is declared in ``fraudcases.workflow``;
- ``evidence``: notes (append-only), tags, attachments, tombstones;
- ``bulk``: all-or-nothing bulk actions;
- ``sla``: the SLA monitor;
- ``users``: people, roles and their API tokens;
"""

from ._common import LEVEL_RANK, SYSTEM_SLA, SYSTEM_WORKER
from .bulk import cases_bulk_assign, cases_bulk_close_legitimate, cases_bulk_run, cases_bulk_tag
from .evidence import (
    attachment_add,
    attachment_delete,
    attachment_download_record,
    case_note_add,
    case_tags_update,
    note_delete,
    tag_create,
    tag_delete,
    tag_rename,
)
from .opening import CaseHit, cases_open_or_attach
from .sla import cases_escalate_overdue
from .transitions import (
    case_approve_closure,
    case_assign,
    case_claim_next,
    case_close,
    case_escalate,
    case_reject_closure,
    case_reopen,
    case_request_closure,
    case_start_review,
    case_take,
)
from .users import user_create, user_password_change, user_token_revoke, user_update

__all__ = [
    "LEVEL_RANK",
    "SYSTEM_SLA",
    "SYSTEM_WORKER",
    "CaseHit",
    "attachment_add",
    "attachment_delete",
    "attachment_download_record",
    "case_approve_closure",
    "case_assign",
    "case_claim_next",
    "case_close",
    "case_escalate",
    "case_note_add",
    "case_reject_closure",
    "case_reopen",
    "case_request_closure",
    "case_start_review",
    "case_tags_update",
    "case_take",
    "cases_bulk_assign",
    "cases_bulk_close_legitimate",
    "cases_bulk_run",
    "cases_bulk_tag",
    "cases_escalate_overdue",
    "cases_open_or_attach",
    "note_delete",
    "tag_create",
    "tag_delete",
    "tag_rename",
    "user_create",
    "user_password_change",
    "user_token_revoke",
    "user_update",
]
