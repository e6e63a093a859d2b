"""The kernel's records in the Django admin: read-only, for admins and auditors."""

from __future__ import annotations

from django.contrib import admin

from core.models import AuditCheck, AuditEvent, LoginFailure

from .admin_rules import ModelRule, ReadOnlyAdmin, admin_rule
from .roles import ADMIN, AUDITOR

ADMINS_AUDITORS = frozenset({ADMIN, AUDITOR})


@admin.register(LoginFailure)
class LoginFailureAdmin(ReadOnlyAdmin):
    list_display = ("username", "ip_address", "created_at")
    search_fields = ("username", "ip_address")


admin_rule("core.loginfailure", ModelRule(view=ADMINS_AUDITORS))


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """Read-only: the audit log is append-only everywhere, the admin included."""

    list_display = ("created_at", "actor_label", "action", "object_type", "object_id", "request_id")
    list_filter = ("action", "object_type")
    search_fields = ("actor_label", "object_id", "request_id", "note")


admin_rule("core.auditevent", ModelRule(view=ADMINS_AUDITORS))


@admin.register(AuditCheck)
class AuditCheckAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "ok", "checked", "reason")
    list_filter = ("ok",)


admin_rule("core.auditcheck", ModelRule(view=ADMINS_AUDITORS))
