from django.contrib import admin

from .models import Attachment, AuditEvent, Case, CaseTransaction, Note, Tag


class CaseTransactionInline(admin.TabularInline):
    model = CaseTransaction
    extra = 0
    raw_id_fields = ("transaction",)
    readonly_fields = ("transaction", "added_at")
    can_delete = False


class NoteInline(admin.StackedInline):
    model = Note
    extra = 0
    readonly_fields = ("author", "created_at")


@admin.register(Case)
class CaseAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "account_id",
        "priority",
        "risk_score",
        "status",
        "assignee",
        "disposition",
        "created_at",
        "due_at",
    )
    list_filter = ("status", "priority", "risk_level", "disposition", "assignee", "tags")
    search_fields = ("account_id", "title", "transactions__external_id")
    date_hierarchy = "created_at"
    raw_id_fields = ("assignee", "closed_by")
    readonly_fields = ("created_at", "updated_at", "priority_rank")
    inlines = [CaseTransactionInline, NoteInline]
    list_select_related = ("assignee",)


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    search_fields = ("name",)


@admin.register(Attachment)
class AttachmentAdmin(admin.ModelAdmin):
    list_display = ("original_name", "case", "uploaded_by", "size", "created_at")
    readonly_fields = [f.name for f in Attachment._meta.fields]


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the audit log is append-only everywhere, the admin included."""

    list_display = ("created_at", "actor_label", "action", "object_type", "object_id", "request_id")
    list_filter = ("action", "object_type")
    search_fields = ("actor_label", "object_id", "request_id", "note")
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
