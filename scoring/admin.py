from django.contrib import admin

from .models import ApiKey, ModelVersion, Transaction, WorkerHeartbeat


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


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ("version", "role", "algorithm", "created_at", "promoted_at")
    list_filter = ("role",)
    readonly_fields = [f.name for f in ModelVersion._meta.fields]


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    list_display = ("hostname", "pid", "last_seen")
