"""Scoring records in the admin: read-only, except API keys (rename, revoke) and detection rules,
which change only through their audited services. Rules per role: ``core.admin_rules``."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import admin
from django.core.paginator import Paginator
from django.utils import timezone
from django.utils.functional import cached_property

from core.admin_rules import (
    READ_ALL,
    ModelRule,
    RoleModelAdmin,
    Write,
    admin_rule,
    service_action,
)
from core.recent import RecentlyRead
from core.roles import ADMIN, AUDITOR, SUPERVISOR

from .engine.fields import SUMMARY_FIELDS
from .models import (
    ApiKey,
    DriftReport,
    EvaluationReport,
    ModelVersion,
    Rule,
    Transaction,
    WorkerHeartbeat,
)
from .selectors import transaction_column_values, transaction_count_estimate
from .services.apikeys import api_key_rename, api_key_revoke
from .services.rules import RULE_FIELDS, rule_create, rule_update

ADMINS = frozenset({ADMIN})
REGISTRY_READERS = frozenset({SUPERVISOR, ADMIN})


class ReadOnlyAdmin(RoleModelAdmin):
    """Written by the system (scoring, training, workers): shown, never changed here."""

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]


class OccurredWithinFilter(admin.SimpleListFilter):
    """The last day, week, month or quarter by ``occurred_at``: a range the BRIN index serves,
    where a date hierarchy reads every row's date (MIN, MAX and DISTINCT over the table)."""

    title = "occurred within"
    parameter_name = "occurred_within"
    DAYS = {"1d": 1, "7d": 7, "30d": 30, "90d": 90}

    def lookups(self, request, model_admin):
        return [
            (key, "the last 24 hours" if days == 1 else f"the last {days} days")
            for key, days in self.DAYS.items()
        ]

    def queryset(self, request, queryset):
        days = self.DAYS.get(self.value() or "")
        if days is None:
            return queryset
        return queryset.filter(occurred_at__gte=timezone.now() - timedelta(days=days))


# The values a free-text column holds, read at most every five minutes per process: Django's
# own filter reads them with a SELECT DISTINCT over the whole table on every page.
filter_choices = RecentlyRead[list[str]](senders=(), uid="scoring.admin.filter_choices")
FILTER_CHOICES_SECONDS = 300.0


class _ColumnValuesFilter(admin.SimpleListFilter):
    """One of the values the column ``parameter_name`` holds (read as above), or all."""

    def lookups(self, request, model_admin):
        column = self.parameter_name
        values = filter_choices.get(
            column,
            max_age=FILTER_CHOICES_SECONDS,
            read=lambda: transaction_column_values(column=column),
        )
        return [(value, value) for value in values]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        return queryset.filter(**{self.parameter_name: self.value()})


def _column_filter(column: str) -> type[_ColumnValuesFilter]:
    return type(
        f"{column.title()}Filter",
        (_ColumnValuesFilter,),
        {"title": column, "parameter_name": column},
    )


class EstimatedCountPaginator(Paginator):
    """Pages of the transactions list, whose exact count would scan the table (the unfiltered
    list's ``COUNT(*)``: 56-81 ms at 1.2M rows, growing with it; a filter such as ``status =
    scored`` that matches most rows: 113-151 ms).

    Unfiltered, on a table of at least ``ESTIMATE_FROM`` rows, the count is PostgreSQL's
    estimate (``estimated``; the page says "about"). A filtered or searched list is counted up
    to ``COUNT_UP_TO`` rows (``capped`` beyond: "more than"). Either way the last pages may be
    short or empty, and the oldest rows past them are reached through a narrower filter.
    """

    ESTIMATE_FROM = 100_000
    COUNT_UP_TO = 10_000
    estimated = False
    capped = False

    @cached_property
    def count(self) -> int:
        if not self.object_list.query.where:
            estimate = transaction_count_estimate()
            if estimate is not None and estimate >= self.ESTIMATE_FROM:
                self.estimated = True
                return estimate
        # No order: PostgreSQL stops at the first COUNT_UP_TO + 1 rows any index gives it.
        bounded = self.object_list.order_by()[: self.COUNT_UP_TO + 1].count()
        if bounded > self.COUNT_UP_TO:
            self.capped = True
            return self.COUNT_UP_TO
        return bounded


@admin.register(Transaction)
class TransactionAdmin(ReadOnlyAdmin):
    """Transactions arrive through the API, streams or import; a failed row shows its error.

    Built for a table of millions of rows (docs/performance.md): newest received first (the
    primary key's order; sorting by a column stays a click away), exact-id search through the
    indexes, no date hierarchy and no total count (the unfiltered list's is an estimate), filters
    whose choices cost no table scan.
    """

    list_display = (
        *SUMMARY_FIELDS,
        "status",
        "risk_score",
        "risk_level",
        "source",
        "label",
        "scoring_error",
    )
    list_filter = (
        "status",
        "risk_level",
        "source",
        "label_source",
        OccurredWithinFilter,
        _column_filter("channel"),
        _column_filter("country"),
    )
    ordering = ("-id",)
    search_fields = (
        "external_id__exact",
        "account_id__exact",
        "merchant_id__exact",
        "device_id__exact",
    )
    search_help_text = "An exact transaction (external), account, merchant or device id."
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_select_related = ("model_version",)

    @admin.display(description="label")
    def label(self, obj) -> str:
        if obj.is_fraud is None:
            return "—"
        return f"{'fraud' if obj.is_fraud else 'legitimate'} ({obj.get_label_source_display()})"

    @admin.display(description="scoring error")
    def scoring_error(self, obj) -> str:
        return (obj.error or "")[:120]


admin_rule("scoring.transaction", ModelRule(view=READ_ALL))


class ApiKeyForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ("name",)


@admin.register(ApiKey)
class ApiKeyAdmin(RoleModelAdmin):
    """Keys are created with ``manage.py create_api_key`` (shown once); here they are renamed
    and revoked, both audited."""

    form = ApiKeyForm
    list_display = ("name", "prefix", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "prefix")
    readonly_fields = ("prefix", "created_at", "created_by", "last_used_at", "revoked_at")
    fields = ("name", *readonly_fields)
    actions = [
        service_action(
            name="revoke_keys",
            description="Revoke",
            run=lambda key, actor, data: api_key_revoke(key=key, actor=actor),
            done=lambda key, data: "revoked.",
        )
    ]

    def service_save(self, request, obj, form, change):
        return api_key_rename(key=obj, actor=request.user, name=form.cleaned_data["name"])


admin_rule(
    "scoring.apikey",
    ModelRule(
        view=ADMINS,
        change=Write(roles=ADMINS, audit=("apikey.rename",)),
        actions={"revoke_keys": Write(roles=ADMINS, audit=("apikey.revoke",))},
    ),
)


class RuleForm(forms.ModelForm):
    class Meta:
        model = Rule
        fields = list(RULE_FIELDS)


@admin.register(Rule)
class RuleAdmin(RoleModelAdmin):
    """Detection rules (also at ``/rules/``): created and changed through the rule services,
    which check the expression and audit the change; deactivate instead of deleting."""

    form = RuleForm
    list_display = ("name", "expression", "risk_floor", "is_active", "error_count", "updated_at")
    list_filter = ("is_active",)
    search_fields = ("name", "expression")
    readonly_fields = ("created_by", "created_at", "updated_at")

    def get_readonly_fields(self, request, obj=None):
        extra = [f for f in ("error_count", "last_error", "last_error_at") if hasattr(Rule, f)]
        return [*self.readonly_fields, *extra]

    def service_save(self, request, obj, form, change):
        data = {f: form.cleaned_data[f] for f in RULE_FIELDS}
        if change:
            return rule_update(actor=request.user, rule=obj, **data)
        return rule_create(actor=request.user, **data)


admin_rule(
    "scoring.rule",
    ModelRule(
        view=ADMINS,
        add=Write(roles=ADMINS, audit=("rule.create",)),
        change=Write(roles=ADMINS, audit=("rule.update",)),
    ),
)


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnlyAdmin):
    """Promote, roll back and retire on ``/models/`` (audited)."""

    list_display = ("version", "role", "algorithm", "created_at", "promoted_at")
    list_filter = ("role",)


admin_rule("scoring.modelversion", ModelRule(view=REGISTRY_READERS))


@admin.register(EvaluationReport)
class EvaluationReportAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "model_version", "rows", "positives", "holdout_share")


admin_rule("scoring.evaluationreport", ModelRule(view=REGISTRY_READERS))


@admin.register(DriftReport)
class DriftReportAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "model_version", "score_psi", "alert", "threshold")
    list_filter = ("alert",)


admin_rule("scoring.driftreport", ModelRule(view=REGISTRY_READERS))


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(ReadOnlyAdmin):
    """Written by workers only: a hand-made heartbeat would turn ``/healthz`` green."""

    list_display = ("hostname", "pid", "last_seen")


admin_rule("scoring.workerheartbeat", ModelRule(view=frozenset({ADMIN, AUDITOR})))
