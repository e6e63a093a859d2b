"""The case domain: cases and what investigators attach to them (the audit log is core.models)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from scoring.models import RISK_SCORE_VALIDATORS, RiskLevel, risk_score_in_range


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

    # A case's priority is a risk level (the one definition: ``scoring.models.RiskLevel``).
    Priority = RiskLevel

    class Disposition(models.TextChoices):
        FRAUD_CONFIRMED = "fraud_confirmed", "Fraud confirmed"
        LEGITIMATE = "legitimate", "Legitimate"
        INCONCLUSIVE = "inconclusive", "Inconclusive"
        # Set only by merging (the case's evidence moved to ``merged_into``); never a label.
        MERGED = "merged", "Merged into another case"

    OPEN_STATUSES = (Status.NEW, Status.IN_REVIEW, Status.ESCALATED, Status.PENDING_APPROVAL)
    # The dispositions a person chooses when closing (``merged`` is the merge service's).
    CLOSING_DISPOSITIONS = (
        Disposition.FRAUD_CONFIRMED,
        Disposition.LEGITIMATE,
        Disposition.INCONCLUSIVE,
    )
    PRIORITY_RANK = {"critical": 4, "high": 3, "medium": 2, "low": 1}

    account_id = models.CharField(max_length=100)
    trigger = models.CharField(max_length=64, default="risk_score")
    title = models.CharField(max_length=200)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NEW)
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.MEDIUM)
    priority_rank = models.PositiveSmallIntegerField(default=2, editable=False)
    # The highest risk among the case's transactions (0-100, one decimal).
    risk_score = models.FloatField(default=0.0, validators=RISK_SCORE_VALIDATORS)
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
    # Snooze ("waiting for customer / merchant"): out of the active queue until ``snoozed_until``
    # or until a new risky transaction attaches (``fraudcases.services.snooze``).
    snoozed_until = models.DateTimeField(null=True, blank=True)
    snoozed_at = models.DateTimeField(null=True, blank=True)
    snoozed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    snooze_reason = models.TextField(blank=True, default="")
    # Merge: this case was closed as ``merged`` and its evidence moved to that case.
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="merged_cases"
    )

    class Meta:
        # The queue's default order: highest risk first (one decimal keeps critical cases apart),
        # ties by priority (which also weighs the amount at risk), then oldest first.
        ordering = ["-risk_score", "-priority_rank", "created_at"]
        indexes = [
            models.Index(fields=["status", "-priority_rank", "created_at"], name="case_queue"),
            models.Index(
                fields=["status", "-risk_score", "-priority_rank", "created_at"],
                name="case_queue_risk",
            ),
            models.Index(fields=["assignee", "status"], name="case_assignee"),
            models.Index(fields=["account_id"], name="case_account"),
            models.Index(fields=["due_at"], name="case_due"),
            models.Index(fields=["created_at"], name="case_created"),
            models.Index(fields=["snoozed_until"], name="case_snoozed"),
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
            models.CheckConstraint(
                condition=risk_score_in_range("risk_score"), name="case_risk_score_range"
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
            "snoozed_until": self.snoozed_until.isoformat() if self.snoozed_until else None,
            "merged_into": self.merged_into_id,
        }

    @property
    def is_snoozed(self) -> bool:
        return self.snoozed_until is not None

    @property
    def sla_state(self) -> str:
        """``breached``, ``due_soon`` (within a quarter of its SLA window) or ``ok``/``none``;
        ``paused`` while snoozed when ``CASE_SNOOZE_PAUSES_SLA``."""
        if not self.is_open or self.due_at is None:
            return "none"
        if self.snoozed_until is not None and settings.CASE_SNOOZE_PAUSES_SLA:
            return "paused"
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


class Tombstone(models.Model):
    """Evidence is never deleted outright: removing it (a supervisor, with a reason, audited)
    blanks its content and keeps this record of who removed it, when and why."""

    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    deletion_reason = models.TextField(blank=True, default="")

    class Meta:
        abstract = True

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


class Note(Tombstone):
    """An investigator's note on a case (markdown, rendered sanitised). Append-only: a
    correction is a new note that ``corrects`` this one; a removed note keeps a tombstone."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    corrects = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="corrections"
    )

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"Note {self.pk} on case {self.case_id}"


class Attachment(Tombstone):
    """Evidence file on a case, stored outside the web root and served only after a check.
    A removed attachment's file is deleted and its row kept as a tombstone (name, size, sha256)."""

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


# --- Quality review of closed cases (insight) ----------------------------------------------------


class QAReview(models.Model):
    """A supervisor's quality review of one closure of a case.

    The sampling policy (``fraudcases.quality.policy``) puts closures into the queue; one row
    per closure (a case closed, reopened and closed again can be sampled twice). The reviewer
    scores the closure against the rubric (evidence reviewed, disposition right, note adequate)
    and agrees or overturns; an overturn reopens the case and corrects its training label
    (``fraudcases.quality.services.qa_review_submit``). Written only by those services.
    """

    class Reason(models.TextChoices):
        RANDOM = "random", "Random sample"
        HIGH_RISK = "high_risk", "High-risk closure (always reviewed)"

    class Verdict(models.TextChoices):
        AGREE = "agree", "Agree"
        OVERTURN = "overturn", "Overturn"

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="qa_reviews")
    # The closure under review: when it happened, with which disposition and risk, and who is
    # answerable for it (the investigator who asked for it, or else who closed it).
    closed_at = models.DateTimeField()
    disposition = models.CharField(max_length=20, choices=Case.Disposition.choices)
    risk_score = models.FloatField(default=0.0, validators=RISK_SCORE_VALIDATORS)
    investigator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    sample_reason = models.CharField(max_length=16, choices=Reason.choices)
    sampled_at = models.DateTimeField(default=timezone.now)
    # The review; empty while the closure waits in the queue.
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    evidence_reviewed = models.BooleanField(null=True, blank=True)
    disposition_correct = models.BooleanField(null=True, blank=True)
    note_adequate = models.BooleanField(null=True, blank=True)
    verdict = models.CharField(max_length=10, choices=Verdict.choices, blank=True, default="")
    corrected_disposition = models.CharField(
        max_length=20, choices=Case.Disposition.choices, blank=True, default=""
    )
    comment = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-sampled_at", "-id"]
        indexes = [
            models.Index(fields=["reviewed_at", "sampled_at"], name="qa_queue"),
            models.Index(fields=["investigator", "reviewed_at"], name="qa_investigator"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["case", "closed_at"], name="qa_one_review_per_closure"),
            # A review is complete or empty: verdict, reviewer and time come together.
            models.CheckConstraint(
                condition=(
                    Q(verdict="", reviewer__isnull=True, reviewed_at__isnull=True)
                    | (~Q(verdict="") & Q(reviewer__isnull=False, reviewed_at__isnull=False))
                ),
                name="qa_review_complete_or_empty",
            ),
            # Only an overturn names a corrected disposition (and it must name one).
            models.CheckConstraint(
                condition=Q(verdict="overturn", corrected_disposition__gt="")
                | (~Q(verdict="overturn") & Q(corrected_disposition="")),
                name="qa_overturn_names_correction",
            ),
        ]

    def __str__(self) -> str:
        state = self.verdict or "pending"
        return f"QA of case #{self.case_id} closed {self.closed_at:%Y-%m-%d %H:%M} [{state}]"

    @property
    def is_pending(self) -> bool:
        return not self.verdict
