"""Alerts in the Django admin: read-only records, and actions that call the audited services.

Channels and routing rules are created and edited on ``/alerts/`` (forms over the same
services); here supervisors and admins read them, send a test message or resend a delivery, and
admins pause or resume a channel. A channel's secret is never shown (only where it comes from).
"""

from __future__ import annotations

from django.contrib import admin
from django.utils import timezone

from core.admin_rules import ModelRule, RoleModelAdmin, Write, admin_rule, service_action
from core.roles import ADMIN, SUPERVISOR

from .forms import PauseForm
from .models import AlertRule, Channel, Delivery, DeliveryAttempt, EventType
from .services import channel_pause, channel_resume, channel_send_test, delivery_resend
from .services.channels import CHANNEL_FIELDS
from .services.rules import RULE_FIELDS

READERS = frozenset({SUPERVISOR, ADMIN})
ADMINS = frozenset({ADMIN})


class _ReadOnly(RoleModelAdmin):
    """Every shown field is read-only; writes are the actions below (audited services)."""

    def get_readonly_fields(self, request, obj=None):
        return list(self.get_fields(request, obj))


def _example_channel(action: str | None = None) -> Channel:
    channel = Channel.objects.create(
        name=f"admin-walk-{Channel.objects.count() + 1}",
        kind=Channel.Kind.EMAIL,
        target="fraud-team@example.test",
        events=[EventType.OPENED],
    )
    if action == "resume_channels":
        channel.paused_at = timezone.now()
        channel.paused_reason = "paused for the admin walk"
        channel.save(update_fields=["paused_at", "paused_reason"])
    return channel


@admin.register(Channel)
class ChannelAdmin(_ReadOnly):
    list_display = ("name", "kind", "target", "is_active", "paused_at", "consecutive_failures")
    list_filter = ("kind", "is_active")
    search_fields = ("name", "target")
    fields = (
        *CHANNEL_FIELDS,
        "credential_source",
        "consecutive_failures",
        "paused_at",
        "paused_reason",
        "managed_by_env",
        "created_at",
        "updated_at",
    )
    actions = [
        service_action(
            name="send_test_message",
            description="Send a test message",
            run=lambda channel, actor, data: channel_send_test(actor=actor, channel=channel),
            done=lambda delivery, data: f"test message queued (delivery {delivery.delivery_id}).",
        ),
        service_action(
            name="pause_channels",
            description="Pause (hold new deliveries)…",
            form_class=PauseForm,
            run=lambda channel, actor, data: channel_pause(
                actor=actor, channel=channel, reason=data["reason"]
            ),
            done=lambda channel, data: "paused.",
        ),
        service_action(
            name="resume_channels",
            description="Resume (send what was held)",
            run=lambda channel, actor, data: channel_resume(actor=actor, channel=channel),
            done=lambda released, data: f"resumed; {released} held deliveries queued.",
        ),
    ]


admin_rule(
    "alerts.channel",
    ModelRule(
        view=READERS,
        actions={
            "send_test_message": Write(roles=READERS, audit=("alerts.channel_test",)),
            "pause_channels": Write(roles=ADMINS, audit=("alerts.channel_pause",)),
            "resume_channels": Write(roles=ADMINS, audit=("alerts.channel_resume",)),
        },
        example=_example_channel,
        action_data={"pause_channels": lambda channel: {"reason": "maintenance window"}},
    ),
)


@admin.register(AlertRule)
class AlertRuleAdmin(_ReadOnly):
    list_display = ("name", "min_risk_level", "min_amount", "is_active", "updated_at")
    list_filter = ("min_risk_level", "is_active")
    search_fields = ("name", "description")
    fields = (
        *RULE_FIELDS,
        "channels",
        "created_at",
        "updated_at",
    )


def _example_rule(action: str | None = None) -> AlertRule:
    rule = AlertRule.objects.create(name=f"admin-walk-rule-{AlertRule.objects.count() + 1}")
    rule.channels.add(_example_channel())
    return rule


admin_rule("alerts.alertrule", ModelRule(view=READERS, example=_example_rule))


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = (
        "number",
        "started_at",
        "outcome",
        "status_code",
        "latency_ms",
        "error",
        "response_excerpt",
        "worker",
    )
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


def _example_delivery(action: str | None = None) -> Delivery:
    now = timezone.now()
    delivery = Delivery(
        channel=_example_channel(),
        event_type=EventType.TEST,
        status=Delivery.Status.DEAD,
        scheduled_for=now,
        next_attempt_at=now,
        attempts=1,
        last_error="HTTP 503 (admin walk)",
    )
    delivery.idempotency_key = f"test:{delivery.delivery_id}"
    delivery.save()
    return delivery


@admin.register(Delivery)
class DeliveryAdmin(_ReadOnly):
    list_display = ("created_at", "event_type", "case", "channel", "status", "attempts")
    list_filter = ("status", "event_type", "channel")
    search_fields = ("delivery_id", "idempotency_key", "case__account_id")
    list_select_related = ("channel", "case")
    inlines = [DeliveryAttemptInline]
    fields = (
        "delivery_id",
        "idempotency_key",
        "channel",
        "rule",
        "case",
        "event",
        "event_type",
        "status",
        "schedule_reason",
        "scheduled_for",
        "next_attempt_at",
        "attempts",
        "claimed_at",
        "last_status_code",
        "last_error",
        "batched_into",
        "request_id",
        "created_by",
        "created_at",
        "sent_at",
        "payload",
    )
    actions = [
        service_action(
            name="resend_deliveries",
            description="Resend (same delivery id)",
            run=lambda delivery, actor, data: delivery_resend(actor=actor, delivery=delivery),
            done=lambda delivery, data: "queued again.",
        )
    ]


admin_rule(
    "alerts.delivery",
    ModelRule(
        view=READERS,
        actions={"resend_deliveries": Write(roles=READERS, audit=("alerts.delivery_resend",))},
        example=_example_delivery,
    ),
)


@admin.register(DeliveryAttempt)
class DeliveryAttemptAdmin(_ReadOnly):
    list_display = ("delivery", "number", "outcome", "status_code", "latency_ms", "started_at")
    list_filter = ("outcome",)
    search_fields = ("delivery__delivery_id", "error")
    list_select_related = ("delivery", "delivery__channel")
    fields = (
        "delivery",
        "number",
        "started_at",
        "finished_at",
        "outcome",
        "status_code",
        "latency_ms",
        "error",
        "response_excerpt",
        "worker",
    )


def _example_attempt(action: str | None = None) -> DeliveryAttempt:
    delivery = _example_delivery()
    return DeliveryAttempt.objects.create(
        delivery=delivery,
        number=1,
        started_at=delivery.created_at,
        finished_at=delivery.created_at,
        outcome=DeliveryAttempt.Outcome.TRANSIENT,
        status_code=503,
        error="HTTP 503 (admin walk)",
    )


admin_rule("alerts.deliveryattempt", ModelRule(view=READERS, example=_example_attempt))
