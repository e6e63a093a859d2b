"""Channels: create, change, pause/resume, send a test message; the default webhook channel from
``ALERTS_WEBHOOK_URL``. Admins only (``alerts.manage``), every change audited, secrets never
written to the audit log (only where they come from)."""

from __future__ import annotations

from datetime import time
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.audit import audit_record
from core.errors import ApplicationError, ConflictError
from core.permissions import ensure_allowed

from ..models import SUBSCRIBABLE_EVENTS, AlertRule, Channel, Delivery, EventType
from ..routing import zone
from ..secrets import secret_encrypt, valid_env_name
from .delivery import SYSTEM_ALERTS, deliveries_enqueue, deliveries_release_held

User = AbstractBaseUser

CHANNEL_FIELDS = (
    "name",
    "kind",
    "target",
    "events",
    "is_active",
    "quiet_start",
    "quiet_end",
    "quiet_timezone",
    "critical_overrides_quiet",
    "update_throttle_minutes",
)
DEFAULT_CHANNEL_NAME = "default-webhook"
_url = URLValidator(schemes=["http", "https"])


def _snapshot(channel: Channel) -> dict[str, Any]:
    data = {f: getattr(channel, f) for f in CHANNEL_FIELDS}
    for key in ("quiet_start", "quiet_end"):
        data[key] = data[key].strftime("%H:%M") if data[key] else None
    data["credential"] = channel.credential_source
    return data


def _errors_to_exception(errors: dict[str, list[str]]) -> None:
    if errors:
        first = next(iter(errors.values()))[0]
        raise ApplicationError(first, extra=errors)


def _validate(data: dict[str, Any], *, secret: str | None, has_secret: bool) -> None:
    errors: dict[str, list[str]] = {}
    name = (data.get("name") or "").strip()
    if not name:
        errors["name"] = ["A channel needs a name."]
    elif len(name) > 100:
        errors["name"] = ["At most 100 characters."]
    kind = data.get("kind")
    target = (data.get("target") or "").strip()
    if kind not in Channel.Kind.values:
        errors["kind"] = [f"One of: {', '.join(Channel.Kind.values)}."]
    elif kind == Channel.Kind.EMAIL:
        addresses = [a.strip() for a in target.split(",") if a.strip()]
        bad = []
        for address in addresses:
            try:
                validate_email(address)
            except ValidationError:
                bad.append(address)
        if not addresses:
            errors["target"] = ["Give at least one email address."]
        elif bad:
            errors["target"] = [f"Not an email address: {', '.join(bad)}."]
    elif kind == Channel.Kind.WEBHOOK:
        try:
            _url(target)
        except ValidationError:
            errors["target"] = ["The webhook URL must be an http(s) URL."]
        if not has_secret:
            errors["secret"] = ["A signed webhook needs a signing secret (or a variable)."]
    elif kind == Channel.Kind.SLACK:
        if not target:
            errors["target"] = ["Give the Slack channel's name (e.g. #fraud-critical)."]
        if not has_secret:
            errors["secret"] = ["Give the Slack incoming-webhook URL (it is stored encrypted)."]
        elif secret:
            try:
                _url(secret)
            except ValidationError:
                errors["secret"] = ["The Slack incoming-webhook URL must be an http(s) URL."]
    if len(target) > 500:
        errors["target"] = ["At most 500 characters."]
    events = data.get("events") or []
    unknown = [e for e in events if e not in SUBSCRIBABLE_EVENTS]
    if not events:
        errors["events"] = ["Subscribe to at least one event."]
    elif unknown:
        errors["events"] = [f"Unknown event type(s): {', '.join(unknown)}."]
    start, end = data.get("quiet_start"), data.get("quiet_end")
    if (start is None) != (end is None):
        errors["quiet_end"] = ["Give both the start and the end of the quiet hours, or neither."]
    elif start is not None and start == end:
        errors["quiet_end"] = ["Quiet hours cannot start and end at the same time."]
    try:
        zone(data.get("quiet_timezone") or "")
    except ValueError as exc:
        errors["quiet_timezone"] = [str(exc)]
    throttle = data.get("update_throttle_minutes")
    if throttle is None or not 0 <= int(throttle) <= 1440:
        errors["update_throttle_minutes"] = ["Between 0 (no throttle) and 1440 minutes."]
    _errors_to_exception(errors)


def _apply_secret(channel: Channel, *, secret: str | None, secret_env: str | None) -> None:
    if secret:
        channel.secret_encrypted = secret_encrypt(secret)
        channel.secret_env = ""
    elif secret_env is not None and secret_env != channel.secret_env:
        if secret_env and not valid_env_name(secret_env):
            raise ApplicationError(
                "An environment reference must name an ALERTS_* variable.",
                extra={"secret_env": ["Use a name such as ALERTS_CORE_BANKING_SECRET."]},
            )
        channel.secret_env = secret_env
        if secret_env:
            channel.secret_encrypted = ""


def _save_unique(channel: Channel) -> None:
    try:
        with transaction.atomic():
            channel.save()
    except IntegrityError:
        raise ApplicationError(
            f"A channel named '{channel.name}' already exists.",
            extra={"name": ["A channel with this name already exists."]},
        ) from None


def _default_events(kind: str) -> list[str]:
    if kind == Channel.Kind.WEBHOOK:
        return [e.value for e in SUBSCRIBABLE_EVENTS]
    return [EventType.OPENED.value, EventType.UPDATED.value, EventType.ESCALATED.value]


@transaction.atomic
def channel_create(
    *,
    actor: User,
    name: str,
    kind: str,
    target: str,
    events: list[str] | None = None,
    secret: str = "",
    secret_env: str = "",
    is_active: bool = True,
    quiet_start: time | None = None,
    quiet_end: time | None = None,
    quiet_timezone: str = "UTC",
    critical_overrides_quiet: bool = True,
    update_throttle_minutes: int | None = None,
) -> Channel:
    """Add a channel. The secret (webhook signing key, Slack URL) is encrypted before it is
    stored, or named as an ``ALERTS_*`` environment variable."""
    ensure_allowed(actor, "alerts.manage")
    data = {
        "name": name.strip(),
        "kind": kind,
        "target": target.strip(),
        "events": list(events if events is not None else _default_events(kind)),
        "is_active": is_active,
        "quiet_start": quiet_start,
        "quiet_end": quiet_end,
        "quiet_timezone": quiet_timezone or "UTC",
        "critical_overrides_quiet": critical_overrides_quiet,
        "update_throttle_minutes": (
            settings.ALERTS_UPDATE_THROTTLE_MINUTES
            if update_throttle_minutes is None
            else update_throttle_minutes
        ),
    }
    _validate(data, secret=secret, has_secret=bool(secret or secret_env))
    channel = Channel(**data)
    _apply_secret(channel, secret=secret, secret_env=secret_env)
    _save_unique(channel)
    audit_record(action="alerts.channel_create", actor=actor, obj=channel, after=_snapshot(channel))
    return channel


@transaction.atomic
def channel_update(
    *,
    actor: User,
    channel: Channel,
    secret: str | None = None,
    secret_env: str | None = None,
    **changes,
) -> Channel:
    """Change a channel's fields (any of ``CHANNEL_FIELDS``); ``secret`` replaces the stored
    secret, ``secret_env`` switches to (or away from) an environment variable; ``None`` keeps.
    Re-enabling a channel queues the deliveries held while it was disabled."""
    ensure_allowed(actor, "alerts.manage")
    unknown = set(changes) - set(CHANNEL_FIELDS)
    if unknown:
        raise ApplicationError(f"Unknown channel field(s): {', '.join(sorted(unknown))}.")
    channel = Channel.objects.select_for_update().get(pk=channel.pk)
    before = _snapshot(channel)
    was_active = channel.is_active
    for key, value in changes.items():
        setattr(channel, key, value.strip() if isinstance(value, str) else value)
    _apply_secret(channel, secret=secret, secret_env=secret_env)
    data = {f: getattr(channel, f) for f in CHANNEL_FIELDS}
    _validate(data, secret=secret, has_secret=bool(channel.secret_encrypted or channel.secret_env))
    after = _snapshot(channel)
    if after == before and not secret:
        return channel
    _save_unique(channel)
    changed = {k: v for k, v in after.items() if before.get(k) != v}
    if secret:
        changed["credential"] = "replaced (stored encrypted)"
    audit_record(
        action="alerts.channel_update",
        actor=actor,
        obj=channel,
        before={k: before[k] for k in changed},
        after=changed,
    )
    if channel.is_active and not was_active and not channel.is_paused:
        deliveries_release_held(channel=channel)
    return channel


@transaction.atomic
def channel_pause(*, actor: User, channel: Channel, reason: str) -> Channel:
    """Pause a channel by hand: its new deliveries are held (not lost) until it is resumed."""
    ensure_allowed(actor, "alerts.manage")
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError("Say why the channel is paused.", {"reason": ["Required."]})
    channel = Channel.objects.select_for_update().get(pk=channel.pk)
    if channel.is_paused:
        raise ConflictError(f"Channel '{channel.name}' is already paused.")
    channel.paused_at = timezone.now()
    channel.paused_reason = f"Paused by {actor.get_username()}: {reason}"[:1000]
    channel.save(update_fields=["paused_at", "paused_reason", "updated_at"])
    audit_record(
        action="alerts.channel_pause",
        actor=actor,
        obj=channel,
        before={"paused": False},
        after={"paused": True, "reason": channel.paused_reason},
        note=reason,
    )
    return channel


@transaction.atomic
def channel_resume(*, actor: User, channel: Channel) -> int:
    """Resume a paused channel (by hand or automatically paused): reset its failure count and
    queue the deliveries held meanwhile. Returns how many were released."""
    ensure_allowed(actor, "alerts.manage")
    channel = Channel.objects.select_for_update().get(pk=channel.pk)
    if not channel.is_paused:
        raise ConflictError(f"Channel '{channel.name}' is not paused.")
    before = {"paused": True, "reason": channel.paused_reason}
    channel.paused_at = None
    channel.paused_reason = ""
    channel.consecutive_failures = 0
    channel.save(update_fields=["paused_at", "paused_reason", "consecutive_failures", "updated_at"])
    released = deliveries_release_held(channel=channel) if channel.is_active else 0
    audit_record(
        action="alerts.channel_resume",
        actor=actor,
        obj=channel,
        before=before,
        after={"paused": False, "released_deliveries": released},
    )
    return released


@transaction.atomic
def channel_send_test(*, actor: User, channel: Channel) -> Delivery:
    """Queue a test message to ``channel`` (sent even while it is paused, to check it)."""
    ensure_allowed(actor, "alerts.resend")
    now = timezone.now()
    delivery = Delivery(
        channel=channel,
        event_type=EventType.TEST,
        scheduled_for=now,
        next_attempt_at=now,
        created_by=f"user:{actor.get_username()}",
    )
    delivery.idempotency_key = f"test:{delivery.delivery_id}"
    delivery.save()
    audit_record(
        action="alerts.channel_test",
        actor=actor,
        obj=channel,
        after={"delivery_id": str(delivery.delivery_id)},
    )
    deliveries_enqueue(deliveries=[(delivery.pk, now)])
    return delivery


@transaction.atomic
def channel_default_sync() -> Channel | None:
    """The default webhook channel from ``ALERTS_WEBHOOK_URL`` (its secret stays in
    ``ALERTS_WEBHOOK_SECRET``, referenced, never copied): created when the URL is set and the
    channel is missing, its URL kept in step with the variable. Audited as the system."""
    url = settings.ALERTS_WEBHOOK_URL
    if not url:
        return None
    channel = Channel.objects.select_for_update().filter(name=DEFAULT_CHANNEL_NAME).first()
    if channel is not None:
        if channel.managed_by_env and channel.target != url:
            before = channel.target
            channel.target = url
            channel.save(update_fields=["target", "updated_at"])
            audit_record(
                action="alerts.channel_update",
                actor_label=SYSTEM_ALERTS,
                obj=channel,
                before={"target": before},
                after={"target": url},
                note="ALERTS_WEBHOOK_URL changed.",
            )
        return channel
    data = {
        "name": DEFAULT_CHANNEL_NAME,
        "kind": Channel.Kind.WEBHOOK,
        "target": url,
        "events": _default_events(Channel.Kind.WEBHOOK),
        "is_active": True,
        "quiet_start": None,
        "quiet_end": None,
        "quiet_timezone": "UTC",
        "critical_overrides_quiet": True,
        "update_throttle_minutes": settings.ALERTS_UPDATE_THROTTLE_MINUTES,
    }
    _validate(data, secret=None, has_secret=True)
    channel = Channel(**data, secret_env="ALERTS_WEBHOOK_SECRET", managed_by_env=True)
    channel.save()
    rule, _ = AlertRule.objects.get_or_create(
        name="default: high and critical",
        defaults={"min_risk_level": "high", "description": "Created with the default webhook."},
    )
    rule.channels.add(channel)
    audit_record(
        action="alerts.channel_create",
        actor_label=SYSTEM_ALERTS,
        obj=channel,
        after=_snapshot(channel) | {"rule": rule.name},
        note="Created from ALERTS_WEBHOOK_URL.",
    )
    return channel
