import logging

from django.apps import AppConfig

logger = logging.getLogger(__name__)


class AlertsConfig(AppConfig):
    """Routing of case events to people and systems (email, Slack, signed webhooks)."""

    name = "alerts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from core.audit import audit_events_committed

        from . import permissions

        permissions.register()

        audit_events_committed.connect(
            case_events_committed, dispatch_uid="alerts.case_events_committed"
        )


def case_events_committed(sender, event_ids: list[int], **kwargs) -> None:
    """After an audit write commits: if it holds case events, enqueue ONE routing task for
    them. A broker failure is logged only; the sweep routes what this missed."""
    from kombu.exceptions import KombuError

    from core.middleware import current_request_id
    from core.models import AuditEvent

    from .models import AUDIT_ACTION_EVENTS
    from .tasks import dispatch_events

    ids = list(
        AuditEvent.objects.filter(pk__in=event_ids, action__in=list(AUDIT_ACTION_EVENTS))
        .order_by("id")
        .values_list("id", flat=True)
    )
    if not ids:
        return
    try:
        dispatch_events.delay(ids, request_id=current_request_id.get())
    except (KombuError, OSError):  # the events are committed; the sweep will route them
        logger.warning("Could not enqueue alert routing for events %s; the sweep will", ids[:5])
