"""Server-rendered pages of the case domain, and the operational endpoints."""

from .audit import audit_export, audit_log
from .cases import (
    attachment_download,
    attachment_upload,
    case_action,
    case_bulk,
    case_detail,
    case_next,
    case_queue,
    case_queue_live,
)
from .ops import healthz, metrics
from .overview import dashboard, supervisor

__all__ = [
    "attachment_download",
    "attachment_upload",
    "audit_export",
    "audit_log",
    "case_action",
    "case_bulk",
    "case_detail",
    "case_next",
    "case_queue",
    "case_queue_live",
    "dashboard",
    "healthz",
    "metrics",
    "supervisor",
]
