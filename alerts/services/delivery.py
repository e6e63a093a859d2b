"""Delivering one message: claim it, send it, record the attempt, schedule a retry or give up.

Exactly once per (event, channel): the delivery row is unique per event and channel, and a claim
(status ``sending`` + ``claimed_at``, committed before anything is sent) keeps a second worker
from sending it at the same time. A worker killed mid-delivery leaves the claim behind; once it is
older than ``ALERTS_DELIVERY_LEASE_SECONDS`` (longer than the task's hard time limit, so the first
worker is certainly gone) the sweep re-enqueues it, the stale attempt is recorded as ``lost`` and
the message is sent again with the same ``X-Delivery-Id`` so the receiver drops the repeat.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from celery import current_app as app
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from kombu.exceptions import KombuError

from core import metrics
from core.audit import audit_record
from core.errors import ApplicationError, ConflictError
from core.middleware import current_request_id
from core.permissions import ensure_allowed

from ..messages import delivery_payload, email_message, json_body, slack_message, test_payload
from ..models import Channel, Delivery, DeliveryAttempt, EventType
from ..routing import retry_delay
from ..secrets import SecretUnavailableError, channel_secret
from ..transport import SendResult, http_post, signature, smtp_send
from .account_actions import account_action_delivery_outcome

User = AbstractBaseUser

logger = logging.getLogger(__name__)
SYSTEM_ALERTS = "system:alerts"
DELIVER_TASK = "alerts.deliver"


def deliveries_enqueue(*, deliveries: list[tuple[int, datetime]]) -> None:
    """After commit, enqueue ``alerts.deliver`` for each (delivery id, due time); a delivery due
    later than ``ALERTS_MAX_COUNTDOWN_SECONDS`` (quiet hours) is left to the sweep. A broker
    error is logged, never raised: the sweep re-enqueues what is due and unclaimed."""
    if not deliveries:
        return
    items = list(deliveries)

    def publish() -> None:
        now = timezone.now()
        for delivery_id, due in items:
            countdown = max((due - now).total_seconds(), 0.0)
            if countdown > settings.ALERTS_MAX_COUNTDOWN_SECONDS:
                continue
            try:
                app.send_task(DELIVER_TASK, args=[delivery_id], countdown=countdown or None)
            except (KombuError, OSError):  # broker down: the row is safe, the sweep sends it
                logger.warning("Could not enqueue delivery %s; the sweep will", delivery_id)

    transaction.on_commit(publish)


@dataclass
class _Claim:
    delivery: Delivery
    channel: Channel
    attempt: DeliveryAttempt


def _budget_left(delivery: Delivery) -> int:
    return settings.ALERTS_MAX_ATTEMPTS - (delivery.attempts - delivery.attempt_floor)


@transaction.atomic
def _claim(*, delivery_id: int, worker: str) -> _Claim | None:
    delivery = (
        Delivery.objects.select_for_update(of=("self",))
        .select_related("channel")
        .filter(pk=delivery_id)
        .first()
    )
    if delivery is None or delivery.status not in Delivery.OPEN_STATUSES:
        return None
    now = timezone.now()
    lease = timedelta(seconds=settings.ALERTS_DELIVERY_LEASE_SECONDS)
    if delivery.status == Delivery.Status.SENDING:
        if delivery.claimed_at and delivery.claimed_at > now - lease:
            return None  # another worker is sending it right now
        DeliveryAttempt.objects.filter(
            delivery=delivery, outcome=DeliveryAttempt.Outcome.IN_FLIGHT
        ).update(
            outcome=DeliveryAttempt.Outcome.LOST,
            finished_at=now,
            error="No result within the lease: the worker stopped mid-delivery. Sent again "
            "with the same delivery id.",
        )
    elif delivery.next_attempt_at > now + timedelta(seconds=1):
        return None  # not due yet; its own countdown or the sweep brings it back
    channel = delivery.channel
    is_test = delivery.event_type == EventType.TEST
    if not is_test and (channel.is_paused or not channel.is_active):
        delivery.status = Delivery.Status.HELD
        delivery.last_error = (
            f"Channel paused: {channel.paused_reason}" if channel.is_paused else "Channel disabled"
        )
        delivery.save(update_fields=["status", "last_error", "updated_at"])
        return None
    if _budget_left(delivery) <= 0:
        delivery.status = Delivery.Status.DEAD
        delivery.last_error = (
            f"Gave up after {delivery.attempts - delivery.attempt_floor} attempts "
            f"(the last one was lost). {delivery.last_error}"
        ).strip()
        delivery.save(update_fields=["status", "last_error", "updated_at"])
        account_action_delivery_outcome(delivery=delivery, channel=channel)
        return None
    if delivery.payload is None:
        no_case = is_test or delivery.case_id is None
        delivery.payload = test_payload(delivery) if no_case else delivery_payload(delivery)
    delivery.attempts += 1
    delivery.status = Delivery.Status.SENDING
    delivery.claimed_at = now
    delivery.save(update_fields=["payload", "attempts", "status", "claimed_at", "updated_at"])
    attempt = DeliveryAttempt.objects.create(
        delivery=delivery, number=delivery.attempts, started_at=now, worker=worker[:255]
    )
    return _Claim(delivery=delivery, channel=channel, attempt=attempt)


def _send(delivery: Delivery, channel: Channel) -> SendResult:
    """Render and send; configuration problems are permanent failures, never exceptions."""
    timeout = settings.ALERTS_HTTP_TIMEOUT_SECONDS
    payload = delivery.payload
    try:
        secret = channel_secret(channel)
    except SecretUnavailableError as exc:
        return SendResult(ok=False, permanent=True, error=str(exc))
    if channel.kind == Channel.Kind.EMAIL:
        subject, text, html = email_message(payload)
        recipients = [a.strip() for a in channel.target.split(",") if a.strip()]
        return smtp_send(
            subject=subject,
            text=text,
            html=html,
            recipients=recipients,
            from_email=settings.ALERTS_FROM_EMAIL,
            headers={"X-Fraudcases-Delivery-Id": str(delivery.delivery_id)},
            timeout=timeout,
        )
    if channel.kind == Channel.Kind.SLACK:
        if not secret:
            return SendResult(ok=False, permanent=True, error="No Slack webhook URL configured.")
        body = json_body(slack_message(payload))
        return http_post(url=secret, body=body, headers={}, timeout=timeout)
    if not secret:
        return SendResult(ok=False, permanent=True, error="No signing secret configured.")
    body = json_body(payload)
    timestamp = str(int(timezone.now().timestamp()))
    headers = {
        "X-Delivery-Id": str(delivery.delivery_id),
        "X-Event-Type": delivery.event_type,
        "X-Timestamp": timestamp,
        "X-Signature": signature(secret, timestamp, body),
    }
    if delivery.request_id:
        headers["X-Request-Id"] = delivery.request_id
    return http_post(url=channel.target, body=body, headers=headers, timeout=timeout)


def _pause_channel(channel: Channel, reason: str) -> None:
    """Auto-pause (system): audited, with the reason admins see on /alerts/."""
    before = {"paused": False}
    channel.paused_at = timezone.now()
    channel.paused_reason = reason
    channel.save(update_fields=["paused_at", "paused_reason", "updated_at"])
    audit_record(
        action="alerts.channel_autopause",
        actor_label=SYSTEM_ALERTS,
        obj=channel,
        before=before,
        after={"paused": True, "reason": reason},
        note=reason,
    )
    logger.warning("Alert channel %s paused: %s", channel.name, reason)


@transaction.atomic
def _record(claim: _Claim, result: SendResult) -> str:
    now = timezone.now()
    attempt = claim.attempt
    outcome = (
        DeliveryAttempt.Outcome.SUCCESS
        if result.ok
        else DeliveryAttempt.Outcome.PERMANENT
        if result.permanent
        else DeliveryAttempt.Outcome.TRANSIENT
    )
    DeliveryAttempt.objects.filter(pk=attempt.pk).update(
        finished_at=now,
        outcome=outcome,
        status_code=result.status_code,
        latency_ms=result.latency_ms,
        error=result.error[:2000],
        response_excerpt=result.excerpt,
    )
    delivery = Delivery.objects.select_for_update(of=("self",)).get(pk=claim.delivery.pk)
    if delivery.status != Delivery.Status.SENDING or delivery.attempts != attempt.number:
        return delivery.status  # a later claim took over after our lease ran out
    channel = Channel.objects.select_for_update().get(pk=claim.channel.pk)
    delivery.last_status_code = result.status_code
    delivery.last_error = result.error[:2000]
    delivery.claimed_at = None
    fields = ["status", "last_status_code", "last_error", "claimed_at", "updated_at"]
    if result.ok:
        delivery.status = Delivery.Status.SENT
        delivery.sent_at = now
        fields.append("sent_at")
        if channel.consecutive_failures:
            Channel.objects.filter(pk=channel.pk).update(consecutive_failures=0)
    elif result.permanent or _budget_left(delivery) <= 0:
        delivery.status = Delivery.Status.DEAD
        if not result.permanent:
            delivery.last_error = f"Gave up after {attempt.number} attempts: {result.error}"[:2000]
        else:
            Channel.objects.filter(pk=channel.pk).update(
                consecutive_failures=F("consecutive_failures") + 1
            )
            channel.refresh_from_db(fields=["consecutive_failures"])
            limit = settings.ALERTS_AUTOPAUSE_AFTER
            if channel.consecutive_failures >= limit and not channel.is_paused:
                _pause_channel(
                    channel,
                    f"Paused automatically after {channel.consecutive_failures} permanent "
                    f"failures in a row; the last: {result.error}"[:1000],
                )
    else:
        delivery.status = Delivery.Status.RETRYING
        wait = retry_delay(
            attempt.number - delivery.attempt_floor,
            base=settings.ALERTS_RETRY_BASE_SECONDS,
            cap=settings.ALERTS_RETRY_MAX_SECONDS,
        )
        delivery.next_attempt_at = now + timedelta(seconds=wait)
        fields.append("next_attempt_at")
        deliveries_enqueue(deliveries=[(delivery.pk, delivery.next_attempt_at)])
    delivery.save(update_fields=fields)
    account_action_delivery_outcome(delivery=delivery, channel=channel)
    return delivery.status


def delivery_attempt(*, delivery_id: int, worker: str = "") -> str:
    """Make one attempt at a delivery if it is due and nobody else holds it; returns its status
    afterwards (``skipped`` when there was nothing to do). Not one transaction on purpose: the
    claim commits before the message leaves, the result commits after it."""
    claim = _claim(delivery_id=delivery_id, worker=worker)
    if claim is None:
        return "skipped"
    # The request that led to the event (the API call that opened the case) names the logs.
    token = current_request_id.set(claim.delivery.request_id or current_request_id.get())
    try:
        return _send_and_record(claim)
    finally:
        current_request_id.reset(token)


def _send_and_record(claim: _Claim) -> str:
    try:
        result = _send(claim.delivery, claim.channel)
    except Exception as exc:  # a rendering bug must not leave the claim hanging until the lease
        logger.exception("Delivery %s failed before sending", claim.delivery.pk)
        result = SendResult(ok=False, permanent=True, error=f"{type(exc).__name__}: {exc}")
    status = _record(claim, result)
    outcome = {"sent": "sent", "dead": "dead", "retrying": "failed"}.get(status, "skipped")
    metrics.ALERT_DELIVERIES.labels(channel=claim.channel.kind, outcome=outcome).inc()
    logger.info(
        "Alert delivery %s to %s: attempt %s %s",
        claim.delivery.delivery_id,
        claim.channel.name,
        claim.attempt.number,
        "delivered" if result.ok else f"failed ({result.error})",
        extra={
            "delivery_id": str(claim.delivery.delivery_id),
            "channel": claim.channel.name,
            "outcome": status,
            "status_code": result.status_code,
            "latency_ms": result.latency_ms,
        },
    )
    return status


RESENDABLE = (Delivery.Status.DEAD, Delivery.Status.SENT, Delivery.Status.HELD)


@transaction.atomic
def delivery_resend(*, actor: User, delivery: Delivery) -> Delivery:
    """Send a delivery again now (dead, held or already sent), with a fresh retry budget and the
    same delivery id and body: a receiver that already processed it drops the repeat."""
    ensure_allowed(actor, "alerts.resend")
    delivery = (
        Delivery.objects.select_for_update(of=("self",))
        .select_related("channel")
        .get(pk=delivery.pk)
    )
    if delivery.status not in RESENDABLE:
        raise ConflictError(
            f"This delivery is {delivery.get_status_display().lower()}; only dead, held or sent "
            "deliveries can be resent."
        )
    channel = delivery.channel
    if delivery.event_type != EventType.TEST and (channel.is_paused or not channel.is_active):
        raise ApplicationError(
            f"Channel '{channel.name}' is {'paused' if channel.is_paused else 'disabled'}; "
            "resume it first."
        )
    before = {"status": delivery.status, "attempts": delivery.attempts}
    now = timezone.now()
    delivery.status = Delivery.Status.PENDING
    delivery.attempt_floor = delivery.attempts
    delivery.next_attempt_at = now
    delivery.save(update_fields=["status", "attempt_floor", "next_attempt_at", "updated_at"])
    audit_record(
        action="alerts.delivery_resend",
        actor=actor,
        obj=delivery,
        case=delivery.case,
        before=before,
        after={"status": delivery.status, "delivery_id": str(delivery.delivery_id)},
    )
    deliveries_enqueue(deliveries=[(delivery.pk, now)])
    return delivery


@transaction.atomic
def deliveries_release_held(*, channel: Channel) -> int:
    """Queue the deliveries held while ``channel`` was paused or disabled (on resume)."""
    now = timezone.now()
    ids = list(
        Delivery.objects.select_for_update()
        .filter(channel=channel, status=Delivery.Status.HELD)
        .values_list("id", flat=True)
    )
    if ids:
        Delivery.objects.filter(pk__in=ids).update(
            status=Delivery.Status.PENDING, next_attempt_at=now, attempt_floor=F("attempts")
        )
        deliveries_enqueue(deliveries=[(i, now) for i in ids])
    return len(ids)
