from functools import update_wrapper

from django.contrib import admin
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from .models import Attachment, AuditEvent, Case, CaseTransaction, LoginFailure, Note, Tag
from .permissions import user_can


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


@admin.register(LoginFailure)
class LoginFailureAdmin(admin.ModelAdmin):
    list_display = ("username", "ip_address", "created_at")
    search_fields = ("username", "ip_address")
    readonly_fields = ("username", "ip_address", "created_at")

    def has_add_permission(self, request):
        return False


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


def _admin_site_allowed(request) -> bool:
    """Django admin is for the admin role only (not merely ``is_staff``)."""
    user = request.user
    return bool(user.is_active and user.is_staff and user_can(user, "admin.site"))


_admin_login = admin.site.login


def _admin_login_gate(request, extra_context=None):
    """Signed-in users without the admin role get 403; anonymous users sign in on the main login
    page (which has the lockout), then come back."""
    if request.user.is_authenticated and not _admin_site_allowed(request):
        raise PermissionDenied("The admin site is for administrators only.")
    if not request.user.is_authenticated:
        return redirect_to_login(request.GET.get("next") or reverse("admin:index"))
    return _admin_login(request, extra_context)


_admin_view = admin.site.admin_view


def _admin_view_gate(view, cacheable=False):
    """Every admin page: anonymous users sign in on the main login page (with its lockout);
    signed-in users without the admin role get 403 (not a login loop)."""
    inner = _admin_view(view, cacheable)

    def gate(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not _admin_site_allowed(request):
            raise PermissionDenied("The admin site is for administrators only.")
        return inner(request, *args, **kwargs)

    return update_wrapper(gate, inner)


admin.site.has_permission = _admin_site_allowed
admin.site.login = _admin_login_gate
admin.site.admin_view = _admin_view_gate
admin.site.site_header = "fraudcases administration"
