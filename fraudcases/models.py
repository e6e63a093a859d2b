"""The case domain: cases and what investigators attach to them (the audit log is core.models)."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from scoring.models import RISK_SCORE_VALIDATORS, RiskLevel, risk_score_in_range

from .queue_criteria import validate_queue_criteria


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
    # The sum of the linked transactions' amounts (the queue's "Case total", whatever their
    # currencies), kept by database triggers on the links (migration 0014): linking, unlinking
    # or moving a transaction updates it, whatever wrote the link. Read-only everywhere else.
    transactions_total = models.DecimalField(
        max_digits=20, decimal_places=2, default=0, editable=False
    )
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
    # Routing: the queue the case landed in when it opened (``fraudcases.services.routing``).
    queue = models.ForeignKey(
        "CaseQueue", null=True, blank=True, on_delete=models.PROTECT, related_name="cases"
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
            # The queue page's default view (every open status, not snoozed) in its default
            # order, with the id: its first page reads 50 index entries, and its count and a
            # late page's ids are index-only scans (with 100k cases a sequential scan and a
            # sort took 30-45 ms). Any other filter walks the plain order index and stops after
            # one page of matches.
            models.Index(
                fields=["-risk_score", "-priority_rank", "created_at", "id"],
                name="case_open_order",
                # Case.OPEN_STATUSES (a nested Meta cannot read it; a test checks they agree).
                condition=models.Q(
                    status__in=["new", "in_review", "escalated", "pending_approval"],
                    snoozed_until__isnull=True,
                ),
            ),
            models.Index(fields=["-risk_score", "-priority_rank", "created_at"], name="case_order"),
            models.Index(fields=["transactions_total", "id"], name="case_total"),
            models.Index(fields=["assignee", "status"], name="case_assignee"),
            models.Index(fields=["account_id"], name="case_account"),
            models.Index(fields=["due_at"], name="case_due"),
            models.Index(fields=["created_at"], name="case_created"),
            models.Index(fields=["snoozed_until"], name="case_snoozed"),
            models.Index(fields=["queue", "status"], name="case_queue_status"),
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
        if kwargs.get("update_fields") is None and not self._state.adding and not args:
            # The links' triggers own the total: a save of a case read before a transaction was
            # attached must not write its stale total back.
            kwargs["update_fields"] = [
                f.attname
                for f in self._meta.concrete_fields
                if not f.primary_key and f.attname != "transactions_total"
            ]
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
    def snooze_pauses_sla(self) -> bool:
        """Whether the SLA clock stops while this case is snoozed: its queue's setting
        (``CaseQueue.snooze_pauses_sla``), else ``CASE_SNOOZE_PAUSES_SLA``."""
        if self.queue_id is None:
            return settings.CASE_SNOOZE_PAUSES_SLA
        return self.queue.snooze_pauses_sla

    @property
    def sla_state(self) -> str:
        """``breached``, ``due_soon`` (within a quarter of its SLA window) or ``ok``/``none``;
        ``paused`` while snoozed when its queue pauses the SLA (:attr:`snooze_pauses_sla`)."""
        if not self.is_open or self.due_at is None:
            return "none"
        if self.snoozed_until is not None and self.snooze_pauses_sla:
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


# --- Routing: queues, their members, who is on duty (issue 14 item 1) ---------------------------


class CaseQueue(models.Model):
    """A queue of cases, defined by admins as a filter over case fields and reason codes.

    A new case lands in the first active queue, by ``position``, whose ``criteria``
    (``fraudcases.queue_criteria``) it matches, else in the default queue. With an
    ``assign_mode`` the queue hands its cases to its members on duty (round-robin or the
    least-loaded first) while they hold fewer than ``max_open_per_person`` open cases
    (``fraudcases.services.routing``). Written only by those services.
    """

    class AssignMode(models.TextChoices):
        OFF = "off", "Off (people take cases with Next case)"
        ROUND_ROBIN = "round_robin", "Round-robin"
        LEAST_LOADED = "least_loaded", "Least-loaded first"

    name = models.CharField(max_length=80, unique=True)
    description = models.TextField(blank=True, default="")
    position = models.PositiveIntegerField(
        default=100, help_text="Lower first: a new case lands in the first queue it matches."
    )
    is_default = models.BooleanField(
        default=False, help_text="The queue for every case no other queue matches (one only)."
    )
    active = models.BooleanField(default=True)
    criteria = models.JSONField(
        default=dict,
        blank=True,
        validators=[validate_queue_criteria],
        help_text='JSON object, e.g. {"reason_codes": ["velocity"], "risk_min": 80}; '
        "see docs/investigator-tools.md.",
    )
    assign_mode = models.CharField(
        max_length=16, choices=AssignMode.choices, default=AssignMode.OFF
    )
    max_open_per_person = models.PositiveIntegerField(
        default=10,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
        help_text="Auto-assignment skips a person holding this many open cases (all queues).",
    )
    snooze_pauses_sla = models.BooleanField(
        default=True, help_text="The SLA clock stops while a case of this queue is snoozed."
    )
    # Round-robin: the member who got this queue's last case (the next one goes to the next).
    rr_last_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        editable=False,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        through="QueueMembership",
        through_fields=("queue", "user"),
        related_name="case_queues",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=Q(is_default=True), name="one_default_queue"
            ),
            models.CheckConstraint(
                condition=Q(is_default=False) | Q(active=True), name="default_queue_active"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def snapshot(self) -> dict[str, Any]:
        """The audited state of the queue."""
        return {
            "name": self.name,
            "position": self.position,
            "is_default": self.is_default,
            "active": self.active,
            "criteria": self.criteria,
            "assign_mode": self.assign_mode,
            "max_open_per_person": self.max_open_per_person,
            "snooze_pauses_sla": self.snooze_pauses_sla,
        }


class QueueMembership(models.Model):
    """A person who works a queue: ``/cases/next/`` offers them its cases and auto-assignment
    may hand them its cases (investigators and supervisors only)."""

    queue = models.ForeignKey(CaseQueue, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="queue_memberships"
    )
    added_at = models.DateTimeField(auto_now_add=True)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["queue__position", "queue_id", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["queue", "user"], name="one_membership_per_queue")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.queue}"


class InvestigatorDuty(models.Model):
    """Whether a person takes auto-assigned cases now: ``off_duty`` (set by the person, or a
    supervisor or admin) and ``absent`` (leave, sickness: supervisors and admins). A person
    without a row is on duty. Written only by ``fraudcases.services.routing.duty_update``."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="duty"
    )
    off_duty = models.BooleanField(default=False)
    absent = models.BooleanField(default=False)
    note = models.CharField(max_length=200, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["user__username"]
        verbose_name_plural = "investigator duty"

    def __str__(self) -> str:
        return f"{self.user}: {self.state}"

    @property
    def on_duty(self) -> bool:
        return not (self.off_duty or self.absent)

    @property
    def state(self) -> str:
        return "absent" if self.absent else "off duty" if self.off_duty else "on duty"

    def snapshot(self) -> dict[str, Any]:
        """The audited state of the person's duty flags."""
        return {"off_duty": self.off_duty, "absent": self.absent, "note": self.note}


# --- Account actions: requests to core banking from a case (fraudcases.services.account_actions)


class AccountAction(models.Model):
    """A request, made from a case, that core banking act on the case's account: block the
    card, hold payments, or allow-list one merchant for the account.

    Kinds that ``ACCOUNT_ACTIONS_APPROVAL_REQUIRED`` names wait for a supervisor other than the
    requester (four-eyes); the others are approved by that policy at once. Once approved the
    audit event ``account_action.approve`` is the outbox entry the alerts app sends to core
    banking as the signed webhook event ``account_action.approved``; the delivery's outcome and
    core banking's result callback move ``status`` on. ``idempotency_key`` is sent with every
    delivery of this action so core banking carries it out once. Written only by
    ``fraudcases.services.account_actions`` (docs/alerts.md, "Account actions").
    """

    class Kind(models.TextChoices):
        BLOCK_CARD = "block_card", "Block card"
        HOLD_PAYMENTS = "hold_payments", "Hold payments"
        ALLOW_MERCHANT = "allow_merchant", "Allow-list merchant for this account"

    class Status(models.TextChoices):
        AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
        APPROVED = "approved", "Approved, on its way to core banking"
        REJECTED = "rejected", "Rejected"
        DELIVERED = "delivered", "Delivered to core banking"
        CONFIRMED = "confirmed", "Carried out (confirmed by core banking)"
        FAILED = "failed", "Failed"

    # Not yet with core banking: at most one such action per account, kind and merchant.
    IN_FLIGHT = (Status.AWAITING_APPROVAL, Status.APPROVED)

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="account_actions")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    # Copied from the case when requested: what core banking acts on, fixed from then on.
    account_id = models.CharField(max_length=100)
    merchant_id = models.CharField(max_length=100, blank=True, default="")
    reason = models.TextField()
    status = models.CharField(max_length=20, choices=Status.choices)
    idempotency_key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    needs_approval = models.BooleanField()
    # The supervisor who approved or rejected it (empty when no approval was needed).
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True, default="")
    # The webhook delivery that reached core banking (its X-Delivery-Id) and when.
    delivered_at = models.DateTimeField(null=True, blank=True)
    delivery_ref = models.CharField(max_length=64, blank=True, default="")
    # Core banking's answer (POST /api/v1/account-actions/<id>/result).
    result_at = models.DateTimeField(null=True, blank=True)
    result_reference = models.CharField(max_length=100, blank=True, default="")
    result_detail = models.TextField(blank=True, default="")
    failure_reason = models.TextField(blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        indexes = [
            models.Index(fields=["case", "-requested_at"], name="account_action_case"),
            models.Index(fields=["status", "requested_at"], name="account_action_status"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="allow_merchant", merchant_id__gt="")
                | (~Q(kind="allow_merchant") & Q(merchant_id="")),
                name="account_action_merchant_iff_allow_list",
            ),
            models.UniqueConstraint(
                fields=["account_id", "kind", "merchant_id"],
                condition=Q(status__in=["awaiting_approval", "approved"]),
                name="account_action_one_in_flight",
            ),
        ]

    def __str__(self) -> str:
        target = f" {self.merchant_id}" if self.merchant_id else ""
        return f"{self.get_kind_display()}{target} on {self.account_id} [{self.status}]"

    def snapshot(self) -> dict[str, Any]:
        """The audited state of the action (``before``/``after`` in the audit log)."""
        return {
            "kind": self.kind,
            "account_id": self.account_id,
            "merchant_id": self.merchant_id or None,
            "status": self.status,
            "needs_approval": self.needs_approval,
            "decided_by": self.decided_by.get_username() if self.decided_by_id else None,
            "delivery_ref": self.delivery_ref or None,
            "result_reference": self.result_reference or None,
        }


# The dashboard's rollups (derived tables, fraudcases/rollup_models.py) belong to this app.
from .rollup_models import (  # noqa: E402, F401
    CaseDayRollup,
    CaseFact,
    CaseLinkFact,
    FlaggedCellRollup,
    FlaggedHourRollup,
    RollupDirtyCase,
    RollupDirtyDay,
    RollupState,
    TopValueRollup,
    TransactionDayRollup,
)
