"""Alert routing and delivery: where case events are announced, and a record of every attempt.

- ``Channel``: a destination (email recipients, a Slack incoming webhook, an HMAC-signed webhook)
  with its subscriptions, quiet hours, update throttle, health and pause state;
- ``AlertRule``: which cases go to which channels (risk level, priority, reason codes, detection
  rules that fired, amount, queue);
- ``Delivery``: one message for one case event on one channel (unique idempotency key), with a
  stable delivery id that receivers use to drop duplicates;
- ``DeliveryAttempt``: one row per attempt (status code, latency, error, response excerpt);
- ``DispatchedEvent`` / ``DispatchCursor``: which audit events have been routed, so the periodic
  sweep catches anything the on-commit path missed (the audit log is the outbox).
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from scoring.models import RiskLevel


class EventType(models.TextChoices):
    """Case events a channel can subscribe to (produced from the case audit actions)."""

    OPENED = "case.opened", "Case opened"
    UPDATED = "case.updated", "More risky transactions on an open case"
    ESCALATED = "case.escalated", "Case escalated (by a person or the SLA monitor)"
    CLOSURE_REQUESTED = "case.closure_requested", "Closure requested (four-eyes)"
    CLOSURE_APPROVED = "case.closure_approved", "Closure approved (case closed)"
    CLOSURE_REJECTED = "case.closure_rejected", "Closure sent back"
    CLOSED = "case.closed", "Case closed with a disposition"
    REOPENED = "case.reopened", "Case reopened"
    ACCOUNT_ACTION_APPROVED = "account_action.approved", "Account action for core banking"
    TEST = "test", "Test message"


# The case audit action codes (fraudcases/services/*) and the event each one produces.
AUDIT_ACTION_EVENTS: dict[str, str] = {
    "case.open": EventType.OPENED,
    "case.attach_transactions": EventType.UPDATED,
    "case.escalate": EventType.ESCALATED,
    "case.sla_escalate": EventType.ESCALATED,
    "case.request_closure": EventType.CLOSURE_REQUESTED,
    "case.approve": EventType.CLOSURE_APPROVED,
    "case.reject_closure": EventType.CLOSURE_REJECTED,
    "case.close": EventType.CLOSED,
    "case.reopen": EventType.REOPENED,
    "account_action.approve": EventType.ACCOUNT_ACTION_APPROVED,
}
# Instructions to core banking (alerts.services.account_actions): every subscribed channel, no
# routing rule, throttle or quiet hours; the webhook deliveries' outcome flows back to the action.
ACCOUNT_ACTION_EVENTS = frozenset({EventType.ACCOUNT_ACTION_APPROVED})
SUBSCRIBABLE_EVENTS = [e for e in EventType if e != EventType.TEST]


class Channel(models.Model):
    """A destination for alerts.

    ``target`` is what may be shown: email addresses for email, the URL for a signed webhook, a
    label such as ``#fraud-critical`` for Slack (whose incoming-webhook URL is itself a credential
    and so lives in the secret). The secret (webhook signing key, Slack URL) is stored encrypted
    (``secret_encrypted``, Fernet) or named as an environment variable (``secret_env``); it is
    never shown back. A channel that fails permanently ``ALERTS_AUTOPAUSE_AFTER`` times in a row
    is paused with the reason; its new deliveries are held until it is resumed.
    """

    class Kind(models.TextChoices):
        EMAIL = "email", "Email"
        SLACK = "slack", "Slack incoming webhook"
        WEBHOOK = "webhook", "Signed webhook"

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    target = models.CharField(
        max_length=500,
        help_text="Email addresses (comma-separated), the webhook URL, or a Slack channel label.",
    )
    secret_encrypted = models.TextField(blank=True, default="", editable=False)
    secret_env = models.CharField(
        max_length=100,
        blank=True,
        default="",
        help_text="Name of an environment variable (ALERTS_…) holding the secret instead.",
    )
    events = models.JSONField(default=list, help_text="Subscribed event types.")
    is_active = models.BooleanField(default=True)
    quiet_start = models.TimeField(null=True, blank=True)
    quiet_end = models.TimeField(null=True, blank=True)
    quiet_timezone = models.CharField(max_length=64, default="UTC")
    critical_overrides_quiet = models.BooleanField(default=True)
    update_throttle_minutes = models.PositiveIntegerField(default=10)
    # Health: consecutive deliveries that ended dead (permanent error or retries exhausted).
    consecutive_failures = models.PositiveIntegerField(default=0, editable=False)
    paused_at = models.DateTimeField(null=True, blank=True, editable=False)
    paused_reason = models.TextField(blank=True, default="", editable=False)
    managed_by_env = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(secret_encrypted="") | Q(secret_env=""),
                name="alerts_channel_one_secret_source",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    @property
    def is_paused(self) -> bool:
        return self.paused_at is not None

    @property
    def credential_source(self) -> str:
        """Where the secret comes from, for display: never the secret itself."""
        if self.secret_env:
            return f"environment variable {self.secret_env}"
        return "stored encrypted" if self.secret_encrypted else "none"


class AlertRule(models.Model):
    """Which cases go to which channels. Empty criteria match everything.

    A case matches when its risk level is at least ``min_risk_level`` and each non-empty
    criterion holds: its priority is one of ``priorities``; one of its transactions has a reason
    code in ``reason_codes``; one of the detection rules named in ``fired_rules`` fired on one of
    its transactions; its largest transaction is at least ``min_amount``; its queue is ``queue``
    (the name of a case queue, checked by the services).
    """

    name = models.CharField(max_length=100, unique=True)
    description = models.CharField(max_length=300, blank=True, default="")
    channels = models.ManyToManyField(Channel, related_name="rules")
    min_risk_level = models.CharField(
        max_length=16, choices=RiskLevel.choices, default=RiskLevel.CRITICAL
    )
    priorities = models.JSONField(default=list, blank=True)
    reason_codes = models.JSONField(default=list, blank=True)
    fired_rules = models.JSONField(default=list, blank=True)
    min_amount = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True)
    queue = models.CharField(max_length=64, blank=True, default="")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name}: ≥{self.min_risk_level}"


class Delivery(models.Model):
    """One message about one case event to one channel.

    ``idempotency_key`` (``<audit event id>:<channel id>``, or ``test:<uuid>``) is unique, so an
    event is never routed twice to a channel; ``delivery_id`` stays the same across retries and
    resends and is sent to receivers (``X-Delivery-Id``) so they can drop a repeat after a worker
    died mid-delivery. ``payload`` is built at the first attempt and then fixed. Later updates of
    a case inside the channel's throttle window are ``batched`` into one pending update.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        RETRYING = "retrying", "Retrying"
        SENT = "sent", "Sent"
        DEAD = "dead", "Dead (gave up)"
        HELD = "held", "Held (channel paused)"
        BATCHED = "batched", "Batched into an update"

    OPEN_STATUSES = (Status.PENDING, Status.SENDING, Status.RETRYING)

    delivery_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    idempotency_key = models.CharField(max_length=100, unique=True)
    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="deliveries")
    rule = models.ForeignKey(
        AlertRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    case = models.ForeignKey(
        "fraudcases.Case",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="alert_deliveries",
    )
    event = models.ForeignKey(
        "core.AuditEvent",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="alert_deliveries",
    )
    event_type = models.CharField(max_length=32, choices=EventType.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    batched_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="batched"
    )
    schedule_reason = models.CharField(max_length=200, blank=True, default="")
    scheduled_for = models.DateTimeField()
    next_attempt_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    # Attempts before the last manual resend; the retry budget counts only the ones after it.
    attempt_floor = models.PositiveSmallIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    payload = models.JSONField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    request_id = models.CharField(max_length=64, blank=True, default="")
    created_by = models.CharField(max_length=150, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "deliveries"
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="alert_delivery_due"),
            models.Index(fields=["channel", "-created_at"], name="alert_delivery_channel"),
            models.Index(fields=["case", "channel", "event_type"], name="alert_delivery_case"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["event", "channel"],
                condition=Q(event__isnull=False),
                name="alerts_one_delivery_per_event_channel",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} → {self.channel.name}: {self.status}"


class DeliveryAttempt(models.Model):
    """One try at sending a delivery: outcome, HTTP/SMTP status, latency, error, response."""

    class Outcome(models.TextChoices):
        IN_FLIGHT = "in_flight", "In flight"
        SUCCESS = "success", "Delivered"
        TRANSIENT = "transient", "Failed (will retry)"
        PERMANENT = "permanent", "Failed permanently"
        LOST = "lost", "Lost (worker stopped mid-delivery)"

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveSmallIntegerField()
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.IN_FLIGHT)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    response_excerpt = models.TextField(blank=True, default="")
    worker = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="alerts_attempt_number")
        ]
        indexes = [models.Index(fields=["outcome", "started_at"], name="alert_attempt_outcome")]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}: {self.outcome}"


class DispatchedEvent(models.Model):
    """A case audit event that has been routed (once: the primary key is the event)."""

    event = models.OneToOneField(
        "core.AuditEvent",
        primary_key=True,
        on_delete=models.PROTECT,
        related_name="alert_dispatch",
    )
    dispatched_at = models.DateTimeField(auto_now_add=True)
    deliveries = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-event"]

    def __str__(self) -> str:
        return f"event {self.event_id}: {self.deliveries} deliveries"


class DispatchCursor(models.Model):
    """The sweep's position in the audit log: every case event up to ``last_event_id`` has been
    routed. Created at the log's end on first use, so installing alerts does not replay history."""

    name = models.CharField(max_length=32, unique=True)
    last_event_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} @ {self.last_event_id}"
