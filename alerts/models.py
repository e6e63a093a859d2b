"""Alert routing: where risky cases are announced (delivery itself is a later piece of work)."""

from django.db import models


class Channel(models.Model):
    """A destination: an email address list, a Slack incoming webhook or an HMAC-signed webhook."""

    class Kind(models.TextChoices):
        EMAIL = "email", "Email"
        SLACK = "slack", "Slack webhook"
        WEBHOOK = "webhook", "Signed webhook"

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    target = models.CharField(max_length=500, help_text="Email addresses (comma-separated) or URL.")
    signing_secret = models.CharField(max_length=200, blank=True, default="")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"


class AlertRule(models.Model):
    """Route cases at or above a risk level to a channel."""

    name = models.CharField(max_length=100)
    min_risk_level = models.CharField(
        max_length=16,
        choices=[("medium", "Medium"), ("high", "High"), ("critical", "Critical")],
        default="critical",
    )
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="rules")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name}: ≥{self.min_risk_level} → {self.channel}"


class Delivery(models.Model):
    """One attempt to deliver one alert (status code, latency and error recorded)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="deliveries")
    case = models.ForeignKey("fraudcases.Case", on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "case"], name="one_delivery_per_rule_case")
        ]

    def __str__(self) -> str:
        return f"{self.rule} / case {self.case_id}: {self.status}"
