"""The Django admin as a role-aware triage interface, not a back door.

Investigators and supervisors triage cases here within their role (list, filters, search, and the
workflow's actions, which call the same services as the pages); admins manage people, tags and
API tokens through audited services; auditors read. Who may do what per model is declared with
``admin_rule`` (``core.admin_rules``) and rendered in docs/workflow.md.
"""

from __future__ import annotations

from functools import update_wrapper

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import PasswordChangeForm
from django.contrib.auth.models import Group
from django.contrib.auth.views import PasswordChangeView, redirect_to_login
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from rest_framework.authtoken import admin as authtoken_admin  # noqa: F401  (registers first)
from rest_framework.authtoken.models import TokenProxy

from core.admin_rules import (
    READ_ALL,
    ModelRule,
    ReadOnlyAdmin,
    RoleModelAdmin,
    Write,
    admin_rule,
    service_action,
)
from core.permissions import user_can
from core.roles import ADMIN, INVESTIGATOR, ROLES, SUPERVISOR

from . import services
from .forms import ReasonForm, action_form
from .models import Attachment, Case, CaseTransaction, Note, Tag
from .workflow import ADMIN_SITE, CaseAction, actions_on

CASE_WORKERS = frozenset({INVESTIGATOR, SUPERVISOR})
ADMINS = frozenset({ADMIN})
TAG_KEEPERS = frozenset({SUPERVISOR, ADMIN})


# --- Cases ------------------------------------------------------------------------------------


def _workflow_action(action: CaseAction):
    """The admin action of one workflow entry: same inputs, same service, same refusals."""
    form_class = None
    if action.inputs:

        def form_class(data=None, _action=action):
            return action_form(_action, data)

    return service_action(
        name=f"wf_{action.slug.replace('-', '_')}",
        description=action.form_label,
        form_class=form_class,
        run=lambda case, actor, data: action.run(case=case, actor=actor, data=data),
        done=action.done,
    )


CASE_ADMIN_ACTIONS = [_workflow_action(a) for a in actions_on(ADMIN_SITE)]


class CaseTransactionInline(admin.TabularInline):
    model = CaseTransaction
    extra = 0
    raw_id_fields = ("transaction",)
    readonly_fields = ("transaction", "added_at")
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class NoteInline(admin.StackedInline):
    """Notes are append-only: shown here, added with the "Add note…" action or on /cases/."""

    model = Note
    fk_name = "case"
    extra = 0
    fields = ("author", "created_at", "body", "corrects", "deleted_at", "deletion_reason")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class CaseAdmin(RoleModelAdmin):
    """Triage: every field is read-only; changes are the workflow's actions."""

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
    inlines = [CaseTransactionInline, NoteInline]
    list_select_related = ("assignee",)
    actions = CASE_ADMIN_ACTIONS
    exclude = ("transactions",)

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Case._meta.fields] + ["tags"]


admin.site.register(Case, CaseAdmin)
admin_rule(
    "fraudcases.case",
    ModelRule(
        view=READ_ALL,
        actions={
            f"wf_{a.slug.replace('-', '_')}": Write(roles=a.roles, audit=a.audit)
            for a in actions_on(ADMIN_SITE)
        },
    ),
)


# --- Notes, attachments, tags -------------------------------------------------------------------


class NoteAddForm(forms.ModelForm):
    class Meta:
        model = Note
        fields = ("case", "body", "corrects")


@admin.register(Note)
class NoteAdmin(RoleModelAdmin):
    """Append-only: add a note (or a correction of one); removal keeps a tombstone."""

    list_display = ("id", "case", "author", "created_at", "corrects", "deleted_at")
    list_filter = ("deleted_at",)
    search_fields = ("body", "case__account_id")
    raw_id_fields = ("case", "corrects")
    list_select_related = ("case", "author")
    actions = [
        service_action(
            name="remove_notes",
            description="Remove (keep a tombstone)…",
            form_class=ReasonForm,
            run=lambda note, actor, data: services.note_delete(
                note=note, actor=actor, reason=data["reason"]
            ),
            done=lambda note, data: "removed; the tombstone stays on the case.",
        )
    ]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = NoteAddForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return [f.name for f in Note._meta.fields]

    def service_save(self, request, obj, form, change):
        data = form.cleaned_data
        return services.case_note_add(
            case=data["case"], actor=request.user, body=data["body"], corrects=data.get("corrects")
        )


admin_rule(
    "fraudcases.note",
    ModelRule(
        view=READ_ALL,
        add=Write(roles=CASE_WORKERS, audit=("case.note",)),
        actions={"remove_notes": Write(roles=frozenset({SUPERVISOR}), audit=("case.note_delete",))},
    ),
)


@admin.register(Attachment)
class AttachmentAdmin(RoleModelAdmin):
    """Uploaded on the case page; removal deletes the file and keeps a tombstone."""

    list_display = ("original_name", "case", "uploaded_by", "size", "created_at", "deleted_at")
    list_filter = ("deleted_at", "content_type")
    search_fields = ("original_name", "sha256", "case__account_id")
    readonly_fields = [f.name for f in Attachment._meta.fields]
    actions = [
        service_action(
            name="remove_attachments",
            description="Remove (delete the file, keep a tombstone)…",
            form_class=ReasonForm,
            run=lambda attachment, actor, data: services.attachment_delete(
                attachment=attachment, actor=actor, reason=data["reason"]
            ),
            done=lambda attachment, data: "removed; the tombstone stays on the case.",
        )
    ]


admin_rule(
    "fraudcases.attachment",
    ModelRule(
        view=READ_ALL,
        actions={
            "remove_attachments": Write(
                roles=frozenset({SUPERVISOR}), audit=("case.attachment_delete",)
            )
        },
    ),
)


@admin.register(Tag)
class TagAdmin(RoleModelAdmin):
    """The tag vocabulary: create, rename and delete are audited services."""

    search_fields = ("name",)
    fields = ("name",)
    actions = [
        service_action(
            name="delete_tags",
            description="Delete from every case…",
            form_class=ReasonForm,
            run=lambda tag, actor, data: services.tag_delete(
                tag=tag, actor=actor, reason=data["reason"]
            ),
            done=lambda result, data: "deleted.",
        )
    ]

    def service_save(self, request, obj, form, change):
        if change:
            return services.tag_rename(actor=request.user, tag=obj, name=form.cleaned_data["name"])
        return services.tag_create(actor=request.user, name=form.cleaned_data["name"])


admin_rule(
    "fraudcases.tag",
    ModelRule(
        view=READ_ALL,
        add=Write(roles=TAG_KEEPERS, audit=("tag.create",)),
        change=Write(roles=TAG_KEEPERS, audit=("tag.rename",)),
        actions={"delete_tags": Write(roles=TAG_KEEPERS, audit=("tag.delete",))},
    ),
)


# --- People, roles, API tokens ----------------------------------------------------------------

User = get_user_model()


class UserForm(forms.ModelForm):
    roles = forms.MultipleChoiceField(
        choices=[(r, r) for r in ROLES], required=False, widget=forms.CheckboxSelectMultiple
    )
    password = forms.CharField(
        widget=forms.PasswordInput, required=False, help_text="Required for a new user."
    )

    class Meta:
        model = User
        fields = ("username", "email", "first_name", "last_name", "is_active")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["username"].disabled = True
            self.fields.pop("password")
            self.initial["roles"] = list(
                self.instance.groups.filter(name__in=ROLES).values_list("name", flat=True)
            )


admin.site.unregister(User)


@admin.register(User)
class UserAdmin(RoleModelAdmin):
    """People are created and changed through audited services; never deleted (deactivate)."""

    form = UserForm
    list_display = ("username", "email", "is_active", "last_login", "roles")
    list_filter = ("is_active", "groups")
    search_fields = ("username", "email", "first_name", "last_name")
    actions = [
        service_action(
            name="deactivate_users",
            description="Deactivate",
            run=lambda user, actor, data: services.user_update(
                actor=actor, user=user, is_active=False
            ),
            done=lambda user, data: "deactivated.",
        ),
        service_action(
            name="revoke_tokens",
            description="Revoke API token",
            run=lambda user, actor, data: services.user_token_revoke(actor=actor, user=user),
            done=lambda result, data: "API token revoked.",
        ),
    ]

    @admin.display(description="roles")
    def roles(self, obj) -> str:
        return ", ".join(sorted(g.name for g in obj.groups.all())) or "—"

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("groups")

    def get_fields(self, request, obj=None):
        base = ["username", "email", "first_name", "last_name", "is_active", "roles"]
        return base if obj else [*base, "password"]

    def service_save(self, request, obj, form, change):
        data = form.cleaned_data
        profile = {f: data.get(f, "") for f in ("email", "first_name", "last_name")}
        if change:
            return services.user_update(
                actor=request.user,
                user=obj,
                roles=data.get("roles", []),
                is_active=data.get("is_active", True),
                **profile,
            )
        return services.user_create(
            actor=request.user,
            username=data["username"],
            password=data.get("password") or "",
            roles=data.get("roles", []),
            **profile,
        )


admin_rule(
    "auth.user",
    ModelRule(
        view=ADMINS,
        add=Write(roles=ADMINS, audit=("user.create",)),
        change=Write(roles=ADMINS, audit=("user.update",)),
        actions={
            "deactivate_users": Write(roles=ADMINS, audit=("user.update",)),
            "revoke_tokens": Write(roles=ADMINS, audit=("user.token_revoke",)),
        },
    ),
)

admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(ReadOnlyAdmin):
    """The four roles are created by a data migration; membership is set on the user."""

    list_display = ("name",)
    exclude = ("permissions",)


admin_rule("auth.group", ModelRule(view=ADMINS))

# People's API tokens are revoked from the user list ("Revoke API token"), audited; DRF's own
# token admin would create and delete them unaudited.
admin.site.unregister(TokenProxy)


# --- The site: signed-in people with a role ---------------------------------------------------


def _admin_site_allowed(request) -> bool:
    """The admin is for people with a role (what each may do there is in the rules)."""
    user = request.user
    return bool(user.is_active and user_can(user, "admin.site"))


_admin_login = admin.site.login


def _admin_login_gate(request, extra_context=None):
    """Signed-in users without a role get 403; anonymous users sign in on the main login page
    (which has the lockout), then come back."""
    if request.user.is_authenticated and not _admin_site_allowed(request):
        raise PermissionDenied("The admin site is for case workers, admins and auditors.")
    if not request.user.is_authenticated:
        return redirect_to_login(request.GET.get("next") or reverse("admin:index"))
    return _admin_login(request, extra_context)


_admin_view = admin.site.admin_view


def _admin_view_gate(view, cacheable=False):
    """Every admin page: anonymous users sign in on the main login page (with its lockout);
    signed-in users without a role get 403 (not a login loop)."""
    inner = _admin_view(view, cacheable)

    def gate(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not _admin_site_allowed(request):
            raise PermissionDenied("The admin site is for case workers, admins and auditors.")
        return inner(request, *args, **kwargs)

    return update_wrapper(gate, inner)


class AuditedPasswordChangeForm(PasswordChangeForm):
    """The admin's "change password" through the audited service (the form has already
    checked the old password and run the password validators the service runs again)."""

    def save(self, commit=True):
        return services.user_password_change(
            user=self.user,
            old_password=self.cleaned_data["old_password"],
            new_password=self.cleaned_data["new_password1"],
        )


def _password_change(request, extra_context=None):
    """Django's own view with the audited form (the rest as ``AdminSite.password_change``)."""
    request.current_app = admin.site.name
    return PasswordChangeView.as_view(
        form_class=AuditedPasswordChangeForm,
        success_url=reverse("admin:password_change_done", current_app=admin.site.name),
        extra_context={**admin.site.each_context(request), **(extra_context or {})},
    )(request)


admin.site.password_change = _password_change
admin.site.has_permission = _admin_site_allowed
admin.site.login = _admin_login_gate
admin.site.admin_view = _admin_view_gate
admin.site.site_header = "fraudcases administration"
admin.site.site_title = "fraudcases"
admin.site.index_title = "Triage and administration"

# Their ModelAdmins and rules live there: routing (queues, memberships and duty flags) and
# account actions to core banking (read-only).
from . import admin_account_actions, admin_routing  # noqa: E402, F401
