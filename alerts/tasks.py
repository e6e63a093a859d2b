"""Celery tasks of the alerts app. Thin: they take ids and call services."""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from core.middleware import current_request_id

from .services import alert_events_dispatch, alerts_sweep, delivery_attempt


@shared_task(
    name="alerts.dispatch_events",
    acks_late=True,
    max_retries=5,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
    time_limit=120,
    soft_time_limit=100,
)
def dispatch_events(event_ids: list[int], request_id: str | None = None) -> int:
    """Route committed case audit events to channels (idempotent: each event is routed once)."""
    token = current_request_id.set(request_id)
    try:
        return len(alert_events_dispatch(event_ids=event_ids))
    finally:
        current_request_id.reset(token)


# The hard time limit must stay below ALERTS_DELIVERY_LEASE_SECONDS (120 s by default): a claim
# older than the lease then certainly belongs to a dead worker.
@shared_task(
    name="alerts.deliver",
    bind=True,
    acks_late=True,
    max_retries=3,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=5,
    retry_jitter=True,
    time_limit=60,
    soft_time_limit=45,
)
def deliver(self, delivery_id: int) -> str:
    """One attempt at one delivery; retries of failed sends are scheduled by the service."""
    return delivery_attempt(delivery_id=delivery_id, worker=self.request.hostname or "")


@shared_task(name="alerts.sweep", time_limit=120, soft_time_limit=100)
def sweep() -> dict:
    """Beat: route missed case events, re-enqueue due or orphaned deliveries."""
    return alerts_sweep()
