"""The case domain: cases and what investigators attach to them, and the audit log."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from scoring.models import RiskLevel


class Case(models.Model):
    """An investigation of suspicious activity on one account.

    Opened by the scoring worker for high-risk transactions (one open case per account: later
    risky transactions attach to it) and worked through the statuses of the contract.
    """

    class Status(models.TextChoices):
        NEW = "new", "New"
        IN_REVIEW = "in_review", "In review"
        ESCALATED = "escalated", "Escalated"
        PENDING_APPROVAL = "pending_approval", "Pending approval"
        CLOSED = "closed", "Closed"

    class Priority(models.TextChoices):
        LOW = "low", "Low"
        MEDIUM = "medium", "Medium"
        HIGH = "high", "High"
        CRITICAL = "critical", "Critical"

    class Disposition(models.TextChoices):
        FRAUD_CONFIRMED = "fraud_confirmed", "Fraud confirmed"
        LEGITIMATE = "legitimate", "Legitimate"
        INCONCLUSIVE = "inconclusive", "Inconclusive"

    OPEN_STATUSES = (Status.NEW, Status.IN_REVIEW, Status.ESCALATED, Status.PENDING_APPROVAL)
    PRIORITY_RANK = {"critical": 4, "high": 3, "medium": 2, "low": 1}

    account_id = models.CharField(max_length=100)
    trigger = models.CharField(max_length=64, default="risk_score")
    title = models.CharField(max_length=200)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NEW)
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.MEDIUM)
    priority_rank = models.PositiveSmallIntegerField(default=2, editable=False)
    risk_score = models.PositiveSmallIntegerField(default=0)
    risk_level = models.CharField(max_length=16, choices=RiskLevel.choices, default=RiskLevel.HIGH)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_cases",
    )
    disposition = models.CharField(
        max_length=20, choices=Disposition.choices, blank=True, default=""
    )
    transactions = models.ManyToManyField(
        "scoring.Transaction", through="CaseTransaction", related_name="cases"
    )
    tags = models.ManyToManyField("Tag", blank=True, related_name="cases")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    due_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # Four-eyes closure: who asked to close, with which disposition; a different supervisor
    # approves (the disposition is only set on the case when it is closed).
    closure_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    proposed_disposition = models.CharField(
        max_length=20, choices=Disposition.choices, blank=True, default=""
    )
    escalation_reason = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-priority_rank", "created_at"]
        indexes = [
            models.Index(fields=["status", "-priority_rank", "created_at"], name="case_queue"),
            models.Index(fields=["assignee", "status"], name="case_assignee"),
            models.Index(fields=["account_id"], name="case_account"),
            models.Index(fields=["due_at"], name="case_due"),
            models.Index(fields=["created_at"], name="case_created"),
        ]
        constraints = [
            # One open case per account and trigger: concurrent workers attach, never duplicate.
            models.UniqueConstraint(
                fields=["account_id", "trigger"],
                condition=~Q(status="closed"),
                name="one_open_case_per_account_trigger",
            ),
            models.CheckConstraint(
                condition=Q(status="closed") | Q(disposition=""),
                name="case_disposition_only_when_closed",
            ),
        ]

    def __str__(self) -> str:
        return f"Case #{self.pk} {self.account_id} [{self.status}]"

    def save(self, *args, **kwargs):
        self.priority_rank = self.PRIORITY_RANK.get(self.priority, 0)
        if kwargs.get("update_fields") is not None and "priority" in kwargs["update_fields"]:
            kwargs["update_fields"] = {*kwargs["update_fields"], "priority_rank"}
        super().save(*args, **kwargs)

    @property
    def is_open(self) -> bool:
        return self.status != self.Status.CLOSED

    def snapshot(self) -> dict[str, Any]:
        """The audited state of the case (what ``before``/``after`` in the audit log show)."""
        return {
            "status": self.status,
            "priority": self.priority,
            "assignee": self.assignee.get_username() if self.assignee_id else None,
            "disposition": self.disposition,
            "risk_score": self.risk_score,
            "proposed_disposition": self.proposed_disposition,
        }

    @property
    def sla_state(self) -> str:
        """``breached``, ``due_soon`` (within a quarter of its SLA window) or ``ok``/``none``."""
        if not self.is_open or self.due_at is None:
            return "none"
        now = timezone.now()
        if self.due_at <= now:
            return "breached"
        window = settings.CASE_SLA_HOURS.get(self.priority, 24) * 3600
        if (self.due_at - now).total_seconds() <= window * settings.CASE_SLA_DUE_SOON_SHARE:
            return "due_soon"
        return "ok"


class CaseTransaction(models.Model):
    """Link of a transaction to the case it triggered or was attached to (at most one case)."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="case_transactions")
    transaction = models.OneToOneField(
        "scoring.Transaction", on_delete=models.PROTECT, related_name="case_link"
    )
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["added_at"]

    def __str__(self) -> str:
        return f"{self.case_id} ← {self.transaction_id}"


class Tag(models.Model):
    """A free label investigators put on cases (``mule``, ``chargeback``…)."""

    name = models.SlugField(max_length=50, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Note(models.Model):
    """An investigator's note on a case (markdown, rendered sanitised)."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"Note {self.pk} on case {self.case_id}"


class Attachment(models.Model):
    """Evidence file on a case, stored outside the web root and served only after a check."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="attachments")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    file = models.FileField(upload_to="attachments/%Y/%m/")
    original_name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return self.original_name


class LoginFailure(models.Model):
    """A failed sign-in, per username and client address; enough recent ones lock the pair out."""

    username = models.CharField(max_length=150)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["username", "ip_address", "created_at"], name="login_failure_key")
        ]

    def __str__(self) -> str:
        return f"{self.username} from {self.ip_address} at {self.created_at:%Y-%m-%d %H:%M:%S}"


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AuditLogImmutableError("The audit log is append-only.")

    def delete(self):
        raise AuditLogImmutableError("The audit log is append-only.")


class AuditLogImmutableError(Exception):
    """Raised on any attempt to change or remove an audit event."""


class AuditEvent(models.Model):
    """Append-only record of one action: who, what, on which object, before/after, when.

    Each row stores the hash of the previous row and its own hash over its content, so
    ``verify_audit_log`` finds the first row that was altered, removed or inserted out of band.
    """

    created_at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_label = models.CharField(max_length=150)
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64, blank=True, default="")
    object_id = models.CharField(max_length=64, blank=True, default="")
    case = models.ForeignKey(
        Case, null=True, blank=True, on_delete=models.PROTECT, related_name="audit_events"
    )
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    note = models.TextField(blank=True, default="")
    request_id = models.CharField(max_length=64, blank=True, default="")
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["object_type", "object_id"], name="audit_object"),
            models.Index(fields=["action", "created_at"], name="audit_action"),
            models.Index(fields=["created_at"], name="audit_time"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.action}"

    def save(self, *args, **kwargs):
        if self.pk is not None or not self._state.adding:
            raise AuditLogImmutableError("The audit log is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditLogImmutableError("The audit log is append-only.")

    def compute_hash(self) -> str:
        """SHA-256 over the previous hash and this row's content, in a canonical JSON form."""
        payload = {
            "prev": self.prev_hash,
            "at": self.created_at.isoformat(),
            "actor_id": self.actor_id,
            "actor": self.actor_label,
            "action": self.action,
            "object": [self.object_type, self.object_id],
            "case": self.case_id,
            "before": self.before,
            "after": self.after,
            "note": self.note,
            "request_id": self.request_id,
            "ip": self.ip_address,
        }
        blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(blob.encode()).hexdigest()
