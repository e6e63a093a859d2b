"""Sample a closure for quality review as soon as it commits (the beat sweep is the safety net).

Subscribes to ``core.audit.audit_events_committed``: connect it once at start-up with
:func:`connect` (``FraudcasesConfig.ready``).
"""

from __future__ import annotations

from core.audit import audit_events_committed
from core.models import AuditEvent

from .services import qa_sample_closures

CLOSING_ACTIONS = ("case.close", "case.approve")


def _on_events_committed(sender, event_ids=(), **kwargs) -> None:
    case_ids = set(
        AuditEvent.objects.filter(
            pk__in=list(event_ids), action__in=CLOSING_ACTIONS, case__isnull=False
        ).values_list("case_id", flat=True)
    )
    if case_ids:
        qa_sample_closures(case_ids=case_ids)


def connect() -> None:
    audit_events_committed.connect(_on_events_committed, dispatch_uid="fraudcases.quality")


def disconnect() -> None:
    audit_events_committed.disconnect(dispatch_uid="fraudcases.quality")
