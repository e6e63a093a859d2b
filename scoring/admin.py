from django.contrib import admin

from .models import (
    ApiKey,
    DriftReport,
    EvaluationReport,
    ModelVersion,
    Rule,
    Transaction,
    WorkerHeartbeat,
)


@admin.register(Transaction)
class TransactionAdmin(admin.ModelAdmin):
    list_display = (
        "external_id",
        "account_id",
        "amount",
        "currency",
        "occurred_at",
        "status",
        "risk_score",
        "risk_level",
        "source",
    )
    list_filter = ("status", "risk_level", "source", "channel", "country")
    search_fields = ("external_id", "account_id", "merchant_id", "device_id")
    date_hierarchy = "occurred_at"
    readonly_fields = [f.name for f in Transaction._meta.fields]
    list_select_related = ("model_version",)

    def has_add_permission(self, request):
        return False  # transactions arrive through the API or import, never by hand


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "prefix")
    readonly_fields = (
        "prefix",
        "key_hash",
        "created_at",
        "created_by",
        "last_used_at",
        "revoked_at",
    )
    fields = ("name", *readonly_fields)

    def has_add_permission(self, request):
        return False  # use `manage.py create_api_key` so the key is shown exactly once


class ReadOnlyAdmin(admin.ModelAdmin):
    """Changes go through the audited services (``/models/``, ``/rules/``, commands), so the
    admin only shows these records."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnlyAdmin):
    list_display = ("version", "role", "algorithm", "created_at", "promoted_at")
    list_filter = ("role",)
    readonly_fields = [f.name for f in ModelVersion._meta.fields]


@admin.register(Rule)
class RuleAdmin(ReadOnlyAdmin):
    list_display = ("name", "expression", "risk_floor", "is_active", "updated_at")
    list_filter = ("is_active",)
    search_fields = ("name", "expression")


@admin.register(EvaluationReport)
class EvaluationReportAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "model_version", "rows", "positives", "holdout_share")


@admin.register(DriftReport)
class DriftReportAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "model_version", "score_psi", "alert", "threshold")
    list_filter = ("alert",)


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    list_display = ("hostname", "pid", "last_seen")
