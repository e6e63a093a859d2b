"""Account-action test helpers: route what was audited since a point, as the alerts worker does."""

from __future__ import annotations

from alerts.models import Delivery
from alerts.services import alert_events_dispatch
from core.models import AuditEvent


def last_event_id() -> int:
    return AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


def actions_since(since: int) -> list[str]:
    return list(
        AuditEvent.objects.filter(id__gt=since).order_by("id").values_list("action", flat=True)
    )


def route_since(since: int) -> list[Delivery]:
    """Dispatch every audit event after ``since`` (what ``alerts.dispatch_events`` does after
    commit); returns the account-action deliveries created."""
    ids = list(AuditEvent.objects.filter(id__gt=since).values_list("id", flat=True))
    alert_events_dispatch(event_ids=ids)
    return list(
        Delivery.objects.filter(event_id__in=ids, event_type="account_action.approved").order_by(
            "id"
        )
    )
