"""Routing committed case events to channels: the audit log is the outbox.

``alert_events_dispatch`` is called with audit event ids right after they commit (one task per
committed batch); ``alerts_sweep`` runs from beat and routes whatever that path missed (broker or
worker down), then re-enqueues deliveries that are due but unclaimed or whose claim expired.
Each event is routed once (``DispatchedEvent``), each (event, channel) delivered once.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from core.audit import audit_record
from core.models import AuditEvent
from fraudcases.models import Case

from ..models import (
    ACCOUNT_ACTION_EVENTS,
    AUDIT_ACTION_EVENTS,
    AlertRule,
    Channel,
    Delivery,
    DispatchCursor,
    DispatchedEvent,
    EventType,
)
from ..routing import CaseFacts, rule_matches, suppressed_by_quiet_hours
from ..selectors import case_facts
from .account_actions import account_action_routed
from .channels import channel_default_sync
from .delivery import deliveries_enqueue

logger = logging.getLogger(__name__)
CURSOR_NAME = "audit-outbox"
SWEEP_BATCH = 1000
THROTTLED_EVENTS = (EventType.OPENED, EventType.UPDATED)


def _routes(channels: list[Channel]) -> list[tuple[Channel, list[AlertRule]]]:
    return [(c, [r for r in c.rules.all() if r.is_active]) for c in channels]


def _plan(
    *, channel: Channel, facts: CaseFacts, event_type: str, now: datetime
) -> tuple[datetime, str, Delivery | None]:
    """(when to send, why then, a pending update to batch into) for one new delivery."""
    when, reasons = now, []
    if event_type == EventType.UPDATED and channel.update_throttle_minutes:
        carrier = (
            Delivery.objects.select_for_update()
            .filter(
                channel=channel,
                case_id=facts.case_id,
                event_type=EventType.UPDATED,
                status=Delivery.Status.PENDING,
                payload__isnull=True,
            )
            .order_by("-id")
            .first()
        )
        if carrier is not None:
            return carrier.next_attempt_at, f"batched into delivery {carrier.pk}", carrier
        last = (
            Delivery.objects.filter(
                channel=channel, case_id=facts.case_id, event_type__in=THROTTLED_EVENTS
            )
            .exclude(status=Delivery.Status.BATCHED)
            .order_by("-scheduled_for")
            .first()
        )
        window = timedelta(minutes=channel.update_throttle_minutes)
        if last is not None and last.scheduled_for + window > now:
            when = last.scheduled_for + window
            reasons.append(f"throttled: one update per {channel.update_throttle_minutes} min")
    quiet_end = suppressed_by_quiet_hours(channel, priority=facts.priority, at=when)
    if quiet_end is not None:
        when = quiet_end
        reasons.append(f"quiet hours until {quiet_end:%H:%M} {channel.quiet_timezone}")
    return when, "; ".join(reasons), None


@transaction.atomic
def _dispatch_one(
    *, event: AuditEvent, routes: list[tuple[Channel, list[AlertRule]]], facts: CaseFacts | None
) -> list[int]:
    """Route one event (once: a concurrent dispatcher of the same event loses the insert)."""
    try:
        with transaction.atomic():
            marker = DispatchedEvent.objects.create(event=event)
    except IntegrityError:
        return []
    event_type = AUDIT_ACTION_EVENTS[event.action]
    if facts is None:
        return []
    if event_type == EventType.UPDATED:
        # Updates of one case are planned one at a time, so two workers routing two hits of the
        # same burst batch them into one update instead of scheduling two.
        list(Case.objects.select_for_update().filter(pk=facts.case_id).values_list("pk"))
    now = timezone.now()
    created: list[Delivery] = []
    # An account action is an instruction to core banking: no rule, throttle or quiet hours.
    instruction = event_type in ACCOUNT_ACTION_EVENTS
    for channel, rules in routes:
        if event_type not in (channel.events or []):
            continue
        rule = None if instruction else next((r for r in rules if rule_matches(r, facts)), None)
        if rule is None and not instruction:
            continue
        when, why, carrier = (
            (now, "", None)
            if instruction
            else _plan(channel=channel, facts=facts, event_type=event_type, now=now)
        )
        status = Delivery.Status.PENDING
        if carrier is not None:
            status = Delivery.Status.BATCHED
        elif channel.is_paused:
            status, why = Delivery.Status.HELD, f"channel paused: {channel.paused_reason}"
        created.append(
            Delivery.objects.create(
                idempotency_key=f"{event.pk}:{channel.pk}",
                channel=channel,
                rule=rule,
                case_id=facts.case_id,
                event=event,
                event_type=event_type,
                status=status,
                batched_into=carrier,
                schedule_reason=why[:200],
                scheduled_for=when,
                next_attempt_at=when,
                request_id=event.request_id,
                created_by=event.actor_label,
            )
        )
    marker.deliveries = len(created)
    marker.save(update_fields=["deliveries"])
    pending = [d for d in created if d.status == Delivery.Status.PENDING]
    deliveries_enqueue(deliveries=[(d.pk, d.next_attempt_at) for d in pending])
    if instruction:
        account_action_routed(event=event, deliveries=created)
    return [d.pk for d in created]


def alert_events_dispatch(*, event_ids: list[int]) -> list[int]:
    """Route the committed case events among ``event_ids`` (others are ignored) to the active
    channels subscribed to their event type whose rules match the case. Returns the ids of the
    deliveries created. Idempotent; each event commits on its own, in id order."""
    events = list(
        AuditEvent.objects.filter(
            pk__in=event_ids, action__in=list(AUDIT_ACTION_EVENTS), case__isnull=False
        ).order_by("id")
    )
    done = set(
        DispatchedEvent.objects.filter(event_id__in=[e.pk for e in events]).values_list(
            "event_id", flat=True
        )
    )
    events = [e for e in events if e.pk not in done]
    if not events:
        return []
    routes = _routes(list(Channel.objects.filter(is_active=True).prefetch_related("rules")))
    facts = case_facts(case_ids={e.case_id for e in events})
    created: list[int] = []
    for event in events:
        created += _dispatch_one(event=event, routes=routes, facts=facts.get(event.case_id))
    return created


def _cursor() -> DispatchCursor:
    cursor = DispatchCursor.objects.select_for_update().filter(name=CURSOR_NAME).first()
    if cursor is None:  # normally made by the migration, at the log's end
        last = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
        cursor, _ = DispatchCursor.objects.get_or_create(
            name=CURSOR_NAME, defaults={"last_event_id": last}
        )
    return cursor


@transaction.atomic
def _cursor_advance(last_event_id: int) -> None:
    cursor = _cursor()
    if last_event_id > cursor.last_event_id:
        cursor.last_event_id = last_event_id
        cursor.save(update_fields=["last_event_id", "updated_at"])


@transaction.atomic
def alerts_history_skip(*, actor, reason: str) -> int:
    """Treat every case event recorded so far as history that never alerts: the routing cursor
    moves past the last case event recorded so far (audited, with the range skipped). For
    back-filled or seeded history (the demo's 30 days of worked cases) that happened before
    alerting began; events recorded afterwards route as usual. Returns how many case events
    were skipped."""
    cursor = _cursor()
    first = cursor.last_event_id
    pending = AuditEvent.objects.filter(id__gt=first, action__in=list(AUDIT_ACTION_EVENTS))
    count = pending.count()
    if not count:
        return 0
    last = pending.order_by("-id").values_list("id", flat=True).first()
    cursor.last_event_id = last
    cursor.save(update_fields=["last_event_id", "updated_at"])
    audit_record(
        actor=actor,
        action="alerts.history_skip",
        before={"last_event_id": first},
        after={"last_event_id": last, "case_events_skipped": count},
        note=reason,
    )
    return count


def alerts_sweep() -> dict[str, int]:
    """Beat: route case events the on-commit path missed, then re-enqueue deliveries that are
    due but unclaimed, or whose claim outlived its lease (a worker died mid-delivery)."""
    channel_default_sync()
    now = timezone.now()
    grace = timedelta(seconds=settings.ALERTS_SWEEP_GRACE_SECONDS)
    routed = 0
    with transaction.atomic():
        start = _cursor().last_event_id
    while True:
        batch = list(
            AuditEvent.objects.filter(
                id__gt=start, action__in=list(AUDIT_ACTION_EVENTS), created_at__lte=now - grace
            )
            .order_by("id")
            .values_list("id", flat=True)[:SWEEP_BATCH]
        )
        if not batch:
            break
        routed += len(alert_events_dispatch(event_ids=batch))
        start = batch[-1]
        _cursor_advance(start)  # progress survives a sweep stopped by its time limit
        if len(batch) < SWEEP_BATCH:
            break
    lease = timedelta(seconds=settings.ALERTS_DELIVERY_LEASE_SECONDS)
    stale = list(
        Delivery.objects.filter(
            Q(
                status__in=[Delivery.Status.PENDING, Delivery.Status.RETRYING],
                next_attempt_at__lte=now - grace,
            )
            | Q(status=Delivery.Status.SENDING, claimed_at__lte=now - lease)
        )
        .order_by("next_attempt_at")
        .values_list("id", flat=True)[:SWEEP_BATCH]
    )
    # Deliveries that waited out quiet hours longer than a countdown are due now, on time.
    waited = list(
        Delivery.objects.filter(
            status=Delivery.Status.PENDING,
            next_attempt_at__lte=now,
            next_attempt_at__gt=now - grace,
            scheduled_for__gt=F("created_at")
            + timedelta(seconds=settings.ALERTS_MAX_COUNTDOWN_SECONDS),
        ).values_list("id", flat=True)[:SWEEP_BATCH]
    )
    ids = list(dict.fromkeys(stale + waited))
    with transaction.atomic():
        deliveries_enqueue(deliveries=[(i, now) for i in ids])
    if routed or ids:
        logger.info("Alerts sweep: %s deliveries routed, %s re-enqueued", routed, len(ids))
    return {"routed": routed, "requeued": len(ids), "cursor": start}
