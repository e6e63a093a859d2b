from django.contrib import admin

from .models import AlertRule, Channel, Delivery


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "target", "is_active")
    list_filter = ("kind", "is_active")
    search_fields = ("name", "target")


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    list_display = ("name", "min_risk_level", "channel", "is_active")
    list_filter = ("min_risk_level", "is_active")


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ("rule", "case", "status", "attempts", "response_code", "created_at")
    list_filter = ("status",)
    readonly_fields = [f.name for f in Delivery._meta.fields]
