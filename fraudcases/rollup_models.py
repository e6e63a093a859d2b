"""The dashboard's rollups and case facts: small tables each chart reads instead of the
transactions table (docs/reporting.md, "Rollups"). Read and written only by
``fraudcases/reporting`` (here, outside that package, so that ``fraudcases.models`` can import
them without an import cycle).

Every rollup row is a sum over the transactions of one *day* (in ``TIME_ZONE``, the zone the
dashboard shows) and one combination of the dashboard's filter dimensions (channel, country,
risk level, model version), at two grains:

- ``detail=True``: every filter dimension kept (for a filtered view);
- ``detail=False``: only the country kept, the other dimensions summed over (``""``): the
  unfiltered view (and a country filter) reads these, a tenth or less of the detail rows.

They are derived data, rebuilt by :mod:`fraudcases.reporting.rollup` from the transactions (a
day at a time, whole days only, so a fold is idempotent); nothing else writes them.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class RollupState(models.Model):
    """The rollups' bookkeeping (one row): the time zone their days are in, when they were
    built and last folded, and a version that changes with every fold (part of the dashboard's
    cache key)."""

    name = models.CharField(max_length=32, primary_key=True)
    time_zone = models.CharField(max_length=64, blank=True, default="")
    built_at = models.DateTimeField(null=True, blank=True)
    refreshed_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveBigIntegerField(default=0)

    class Meta:
        verbose_name = "dashboard rollup state"

    def __str__(self) -> str:
        return f"{self.name} v{self.version} ({self.time_zone}, folded {self.refreshed_at})"


class RollupDirtyDay(models.Model):
    """A UTC day with transactions written since the rollups last folded it. Rows are made by
    database triggers on the transactions table (every insert, every update of a column a chart
    reads, every delete; migration ``0011``), so no write path can forget to tell the rollups.

    Not unique per day on purpose: writers only append (one row per statement and day on
    PostgreSQL), so concurrent writers never wait for each other or for a fold; a fold deletes
    only the marks it saw committed, so a mark committed during the fold survives it."""

    day = models.DateField(db_index=True)

    class Meta:
        verbose_name = "dashboard rollup dirty day"

    def __str__(self) -> str:
        return self.day.isoformat()


class _Rollup(models.Model):
    """The key every rollup shares: the local day, the grain and the filter dimensions."""

    day = models.DateField()
    detail = models.BooleanField()
    channel = models.CharField(max_length=32, blank=True, default="")
    country = models.CharField(max_length=2, blank=True, default="")
    risk_level = models.CharField(max_length=16, blank=True, default="")
    model = models.CharField(max_length=64, blank=True, default="")
    n = models.PositiveIntegerField()

    class Meta:
        abstract = True

    def __str__(self) -> str:
        grain = "detail" if self.detail else "by country"
        return f"{self.day} {grain} {self.channel}/{self.country}/{self.risk_level}/{self.model}"


class TransactionDayRollup(_Rollup):
    """Transactions per day and risk-score band (``band`` 0-10 = score // 10, NULL unscored):
    count, flagged (high/critical), labelled and fraud. Volume, score bands, top countries."""

    band = models.SmallIntegerField(null=True, blank=True)
    flagged = models.PositiveIntegerField()
    labelled = models.PositiveIntegerField()
    fraud = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["detail", "day"], name="rollup_day_grain")]


class FlaggedHourRollup(_Rollup):
    """Flagged transactions per day, ISO weekday and hour (local). The heatmap."""

    weekday = models.PositiveSmallIntegerField()
    hour = models.PositiveSmallIntegerField()

    class Meta:
        indexes = [models.Index(fields=["detail", "day"], name="rollup_hour_grain")]


class FlaggedCellRollup(_Rollup):
    """Flagged transactions with coordinates per day and 1° cell (rounded latitude and
    longitude). The map."""

    lat = models.FloatField()
    lon = models.FloatField()

    class Meta:
        indexes = [models.Index(fields=["detail", "day"], name="rollup_cell_grain")]


class TopValueRollup(_Rollup):
    """Transactions, labelled and fraud per day and merchant (``kind="merchant"``) or merchant
    category (``kind="category"``). The top-by-fraud-rate lists."""

    kind = models.CharField(max_length=16)
    value = models.CharField(max_length=100)
    labelled = models.PositiveIntegerField()
    fraud = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["kind", "detail", "day"], name="rollup_top_grain")]


class RollupDirtyCase(models.Model):
    """A case whose transactions or audit trail changed since the last fold (database triggers
    on the case-transaction links and the audit log; append-only like
    :class:`RollupDirtyDay`)."""

    case_id = models.BigIntegerField(db_index=True)

    class Meta:
        verbose_name = "dashboard rollup dirty case"

    def __str__(self) -> str:
        return f"case {self.case_id}"


class CaseLinkFact(models.Model):
    """One row per transaction in a case: the transaction columns the case charts read
    (amount, currency, filter dimensions, reasons) and the case's status, disposition, risk
    level and closing time, copied next to the case id, so a link chart reads one narrow table
    instead of joining the cases and the transactions."""

    transaction_id = models.BigIntegerField(primary_key=True)
    case = models.ForeignKey(
        "fraudcases.Case",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="link_facts",
    )
    amount = models.DecimalField(max_digits=18, decimal_places=2)
    currency = models.CharField(max_length=3)
    channel = models.CharField(max_length=32, blank=True, default="")
    country = models.CharField(max_length=2, blank=True, default="")
    model = models.CharField(max_length=64, blank=True, default="")
    reasons = models.TextField(blank=True, default="")
    # The case's columns the link charts filter and split by, copied so they need no join.
    case_status = models.CharField(max_length=20, blank=True, default="")
    case_disposition = models.CharField(max_length=20, blank=True, default="")
    case_risk_level = models.CharField(max_length=16, blank=True, default="")
    case_closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["case"], name="rollup_link_case"),
            models.Index(fields=["case_closed_at"], name="rollup_link_closed"),
        ]

    def __str__(self) -> str:
        return f"case {self.case_id} ← transaction {self.transaction_id}"


class CaseFact(models.Model):
    """Per case, the columns the case charts read: the case's own (status, priority, risk,
    disposition, dates, assignee), the sum of its transactions' amounts, when it was opened
    (first ``case.open`` audit event) and its first action by a person. One narrow row per
    case, refreshed whenever the case, its links or its audit trail change (the dashboard
    folds the marked cases before it reads), so a chart scans this instead of joining the
    cases, their links and the audit log."""

    case = models.OneToOneField(
        "fraudcases.Case",
        primary_key=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="fact",
    )
    status = models.CharField(max_length=20, default="", blank=True)
    is_open = models.BooleanField(default=False)  # status is one of Case.OPEN_STATUSES
    priority = models.CharField(max_length=10, default="", blank=True)
    risk_level = models.CharField(max_length=16, default="", blank=True)
    risk_score = models.FloatField(default=0.0)
    disposition = models.CharField(max_length=20, blank=True, default="")
    account_id = models.CharField(max_length=100, default="", blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    created_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    # Sum of the linked transactions' amounts (any currency, as the case page shows it);
    # None when the case has no transaction.
    amount = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    first_action_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["created_at"], name="rollup_fact_created"),
            models.Index(fields=["closed_at"], name="rollup_fact_closed"),
            models.Index(fields=["is_open", "amount"], name="rollup_fact_open_amount"),
        ]

    def __str__(self) -> str:
        return f"case {self.case_id} opened {self.opened_at}, first action {self.first_action_at}"


class CaseDayRollup(models.Model):
    """Cases per local day, from the case facts: ``opened`` (by creation day) and ``closed``
    (by closing day) per risk level, priority and disposition; ``closed_model``,
    ``closed_rule`` and ``closed_currency``, the closed cases per model version (rule fired,
    currency) among their transactions: distinct cases (a case counts once per value) and, per
    currency, the sum of those transactions. Recomputed a whole day at a time whenever a case
    of that day changes, and rebuilt when the rules change. The case-flow, disposition,
    precision and confirmed-money charts read these when no transaction filter (channel,
    country, model) applies."""

    day = models.DateField()
    kind = models.CharField(max_length=16)
    risk_level = models.CharField(max_length=16, blank=True, default="")
    priority = models.CharField(max_length=10, blank=True, default="")
    disposition = models.CharField(max_length=20, blank=True, default="")
    value = models.CharField(max_length=100, blank=True, default="")
    n = models.PositiveIntegerField()
    amount = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["kind", "day"], name="rollup_case_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.kind} {self.value or self.disposition}: {self.n}"
