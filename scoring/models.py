"""Transactions, API clients, the model registry and worker liveness."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from .engine.fields import FEATURE_INPUT_FIELDS

# Columns the history index carries besides its keys (account, time): the rest of what the
# features read (``scoring.engine.fields.FEATURE_INPUT_FIELDS``) and the id.
HISTORY_INCLUDED = [
    "id",
    *(f for f in FEATURE_INPUT_FIELDS if f not in ("account_id", "occurred_at")),
]


class RiskLevel(models.TextChoices):
    """Risk bands derived from the 0-100 score (thresholds in settings)."""

    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


# A displayed risk is 0-100 with one decimal (``scoring.engine.levels.display_risk``).
RISK_SCORE_VALIDATORS = [MinValueValidator(0.0), MaxValueValidator(100.0)]


def risk_score_in_range(field: str) -> Q:
    """Check-constraint condition: ``field`` is empty or a risk from 0 to 100."""
    return Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__gte": 0, f"{field}__lte": 100})


class LabelSource(models.TextChoices):
    """Where a transaction's training label (``Transaction.is_fraud``) came from."""

    GENERATOR = "generator", "Synthetic generator"
    IMPORT = "import", "Imported label column"
    DISPOSITION = "disposition", "Case disposition"


class Transaction(models.Model):
    """One payment event from an external system, and its scoring result.

    ``external_id`` is the sender's id and the idempotency key. Rows are written once by ingestion
    (``pending``) and then only by scoring; ``imported`` rows are history (CSV import, synthetic
    data) that is not scored live.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SCORED = "scored", "Scored"
        FAILED = "failed", "Failed"
        IMPORTED = "imported", "Imported (history, not scored live)"

    class Source(models.TextChoices):
        API = "api", "API"
        IMPORT = "import", "CSV import"
        SYNTHETIC = "synthetic", "Synthetic generator"
        STREAM = "stream", "Stream consumer"

    external_id = models.CharField(max_length=100, unique=True)
    account_id = models.CharField(max_length=100)
    amount = models.DecimalField(max_digits=18, decimal_places=2)
    currency = models.CharField(max_length=3)
    occurred_at = models.DateTimeField()
    merchant_id = models.CharField(max_length=100, blank=True, default="")
    merchant_category = models.CharField(max_length=100, blank=True, default="")
    channel = models.CharField(max_length=32, blank=True, default="")
    country = models.CharField(max_length=2, blank=True, default="")
    latitude = models.FloatField(null=True, blank=True)
    longitude = models.FloatField(null=True, blank=True)
    device_id = models.CharField(max_length=100, blank=True, default="")
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    counterparty_id = models.CharField(max_length=100, blank=True, default="")
    metadata = models.JSONField(default=dict, blank=True)

    source = models.CharField(max_length=16, choices=Source.choices, default=Source.API)
    api_key = models.ForeignKey("scoring.ApiKey", null=True, blank=True, on_delete=models.SET_NULL)
    # Which call stored the row (for tracing an incident); not indexed: nothing looks rows up by
    # it, and every insert and every scoring update would write the index.
    ingest_batch = models.UUIDField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    scoring_attempts = models.PositiveSmallIntegerField(default=0)
    risk_score = models.FloatField(null=True, blank=True, validators=RISK_SCORE_VALIDATORS)
    risk_level = models.CharField(max_length=16, choices=RiskLevel.choices, blank=True, default="")
    reasons = models.JSONField(default=list, blank=True)
    features = models.JSONField(default=dict, blank=True)
    # Not indexed: every scored row would write the index (scoring is not a HOT update), and no
    # query needs it (the dashboard's model filter matches most rows of its time range; deleting
    # a ModelVersion checks for its rows with a sequential scan, a rare action; migration 0010).
    model_version = models.ForeignKey(
        "scoring.ModelVersion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    scored_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    # Shadow scoring by the challenger model: stored for comparison, never acted upon.
    challenger_score = models.FloatField(null=True, blank=True, validators=RISK_SCORE_VALIDATORS)
    challenger_model_version = models.ForeignKey(
        "scoring.ModelVersion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,  # the partial index txn_challenger instead
    )

    # Ground truth where known: generator labels, imported labels, investigators' dispositions.
    # Written only by ``scoring.services.labels`` (with its source and time); every reader of
    # labels (training, evaluation, live precision, rule preview) reads ``is_fraud`` alone.
    is_fraud = models.BooleanField(null=True, blank=True)
    label_source = models.CharField(
        max_length=16, choices=LabelSource.choices, blank=True, default=""
    )
    labelled_at = models.DateTimeField(null=True, blank=True)
    fraud_pattern = models.CharField(max_length=32, blank=True, default="")

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            # The batch's history query (``selectors.history_frame``): an account's rows in the
            # look-back window, with every column the features read, so PostgreSQL answers it
            # from the index (an index-only scan) instead of one heap page per row.
            models.Index(
                fields=["account_id", "occurred_at"],
                name="txn_account_history",
                include=HISTORY_INCLUDED,
            ),
            # Pending rows only (the sweeper, the pending gauge): a row leaves the index when it
            # is scored, so scoring writes no entry here and the index stays small.
            models.Index(
                fields=["enqueued_at"],
                name="txn_pending_enqueued",
                condition=Q(status="pending"),
            ),
            # The challenger comparison's rows; a row without a challenger score has no entry,
            # so neither ingest nor scoring without a challenger writes here.
            models.Index(
                fields=["challenger_model_version"],
                name="txn_challenger",
                condition=Q(challenger_model_version__isnull=False),
            ),
            models.Index(fields=["risk_level", "-occurred_at"], name="txn_level_time"),
            models.Index(fields=["merchant_id"], name="txn_merchant"),
            models.Index(fields=["device_id"], name="txn_device"),
            # The same query's payments to the batch's counterparties in the look-back window.
            models.Index(
                fields=["counterparty_id", "occurred_at"],
                name="txn_counterparty_time",
                condition=~Q(counterparty_id=""),
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="txn_amount_positive"),
            models.CheckConstraint(
                condition=risk_score_in_range("risk_score"), name="txn_risk_score_range"
            ),
            models.CheckConstraint(
                condition=risk_score_in_range("challenger_score"),
                name="txn_challenger_score_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.external_id} ({self.account_id}, {self.amount} {self.currency})"


class ApiKey(models.Model):
    """Machine credential for an external system. Only a SHA-256 of the key is stored.

    Keys are 256-bit random strings, so a fast hash is as safe as a slow one and keeps every API
    request cheap. ``prefix`` is the public part used to find the row and to tell keys apart.
    """

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        "auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name", "created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…){' [revoked]' if self.revoked_at else ''}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class ModelVersion(models.Model):
    """A trained model file in the registry, with its training summary and metrics.

    Exactly one version is the champion (it scores and acts); a challenger only scores in shadow.
    The file's SHA-256 is checked before it is loaded.
    """

    class Role(models.TextChoices):
        CANDIDATE = "candidate", "Candidate"
        CHAMPION = "champion", "Champion"
        CHALLENGER = "challenger", "Challenger"
        RETIRED = "retired", "Retired"

    version = models.CharField(max_length=64, unique=True)
    algorithm = models.CharField(max_length=200)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.CANDIDATE)
    file_path = models.CharField(max_length=500)
    sha256 = models.CharField(max_length=64)
    feature_names = models.JSONField(default=list)
    training_summary = models.JSONField(default=dict)
    metrics = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    promoted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["role"], condition=Q(role="champion"), name="one_champion_model"
            ),
            models.UniqueConstraint(
                fields=["role"], condition=Q(role="challenger"), name="one_challenger_model"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.version} ({self.role})"


class WorkerHeartbeat(models.Model):
    """Last sign of life from a Celery worker; ``/healthz`` wants one that is recent."""

    hostname = models.CharField(max_length=255, unique=True)
    last_seen = models.DateTimeField()
    pid = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-last_seen"]

    def __str__(self) -> str:
        return f"{self.hostname} @ {self.last_seen:%Y-%m-%d %H:%M:%S}"


class Rule(models.Model):
    """A declarative detection rule edited by admins, e.g. ``amount > 10000 and new_country``.

    When the expression holds for a transaction, its risk score is raised to at least
    ``risk_floor`` and ``reason`` is added to its reasons. A rule that fails while a batch is
    scored is skipped for that batch; ``error_count``, ``last_error`` and ``last_error_at`` record
    it (shown on ``/rules/`` and in ``/metrics``) and never stop scoring.
    """

    name = models.CharField(max_length=100, unique=True)
    expression = models.TextField()
    risk_floor = models.PositiveSmallIntegerField(default=70)
    reason = models.CharField(max_length=200, blank=True, default="")
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        "auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Run-time failures (the rule was skipped for a batch); written by scoring, not by editing.
    error_count = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    last_error_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(risk_floor__lte=100), name="rule_floor_range")
        ]

    def __str__(self) -> str:
        return self.name


class EvaluationReport(models.Model):
    """A stored back-test (``evaluate_model``): candidate vs baselines on a time-ordered split."""

    created_at = models.DateTimeField(auto_now_add=True)
    holdout_share = models.FloatField()
    rows = models.PositiveIntegerField()
    positives = models.PositiveIntegerField()
    report = models.JSONField(default=dict)
    model_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="evaluations"
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Evaluation {self.created_at:%Y-%m-%d %H:%M} ({self.rows} rows)"


class DriftReport(models.Model):
    """Population stability per feature and for the score between a reference window and now."""

    created_at = models.DateTimeField(auto_now_add=True)
    model_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="drift_reports"
    )
    reference_start = models.DateTimeField()
    reference_end = models.DateTimeField()
    current_start = models.DateTimeField()
    current_end = models.DateTimeField()
    feature_psi = models.JSONField(default=dict)
    score_psi = models.FloatField(null=True, blank=True)
    threshold = models.FloatField(default=0.2)
    alert = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Drift {self.created_at:%Y-%m-%d %H:%M}{' ALERT' if self.alert else ''}"
