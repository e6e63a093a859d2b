"""What each role may do in the Django admin, per model, and which audit event each write leaves.

Every model registered with the admin site needs a :class:`ModelRule` here (call
:func:`admin_rule` next to its ``ModelAdmin``, and subclass :class:`RoleModelAdmin`):

- ``view``: the roles that may see the list and the (read-only) detail;
- ``add`` / ``change`` / ``delete``: a :class:`Write` naming the roles allowed and the audit
  action codes the write must leave, or ``None`` (nobody: the default);
- ``actions``: admin action name → :class:`Write` (the action is only offered to those roles).

:class:`RoleModelAdmin` answers the admin's permission questions from the rule (roles, not
Django model permissions; a model without a rule gets nothing: fail closed), never lets Django
write the row itself (``save_model`` / ``delete_model`` must call an audited service), and shows
a service's refusal as an admin message. ``tests/project/test_admin_walk.py`` walks every registered
``ModelAdmin`` for every role with the ``example`` / ``*_data`` samples of its rule and checks
each accepted write left its audit event and each refused one changed nothing; a registered
model without a rule fails it. ``docs/workflow.md`` renders these rules for people.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse

from .errors import ApplicationError
from .permissions import user_roles
from .roles import ROLES


@dataclass(frozen=True)
class Write:
    """A write the admin may make: who, and which audit action code(s) it leaves."""

    roles: frozenset[str]
    audit: tuple[str, ...]


@dataclass(frozen=True)
class ModelRule:
    """The admin rule of one model (see the module docstring).

    The samples feed the admin walk test: ``example(action)`` makes a row to change or act on
    (in a state the action applies to when ``action`` is given), ``add_data()`` and
    ``change_data(obj)`` are valid POST bodies for the add and change forms, and
    ``action_data[name](obj)`` the intermediate form's fields of an action.
    """

    view: frozenset[str]
    add: Write | None = None
    change: Write | None = None
    delete: Write | None = None
    actions: dict[str, Write] = field(default_factory=dict)
    example: Callable[[str | None], models.Model] | None = None
    add_data: Callable[[], dict] | None = None
    change_data: Callable[[models.Model], dict] | None = None
    action_data: dict[str, Callable[[models.Model], dict]] = field(default_factory=dict)

    def writers(self) -> frozenset[str]:
        """Every role that may make some write here."""
        roles: set[str] = set()
        for write in (self.add, self.change, self.delete, *self.actions.values()):
            if write is not None:
                roles |= write.roles
        return frozenset(roles)


ADMIN_RULES: dict[str, ModelRule] = {}
READ_ALL = frozenset(ROLES)


def admin_rule(label: str, rule: ModelRule) -> ModelRule:
    """Register the admin rule of the model ``label`` (``app_label.model_name``)."""
    if label in ADMIN_RULES:
        raise ValueError(f"An admin rule for {label} is already registered.")
    unknown = (rule.view | rule.writers()) - set(ROLES)
    if unknown:
        raise ValueError(f"Unknown role(s) in the admin rule of {label}: {sorted(unknown)}")
    ADMIN_RULES[label] = rule
    return rule


def _allowed(request, write: Write | None) -> bool:
    return write is not None and bool(user_roles(request.user) & write.roles)


class RoleModelAdmin(admin.ModelAdmin):
    """A ``ModelAdmin`` whose permissions come from its model's :class:`ModelRule`.

    Subclasses that allow ``add`` or ``change`` implement :meth:`service_save` (call the audited
    service; return the saved row); actions are written with :func:`service_action`.
    """

    @property
    def rule(self) -> ModelRule | None:
        return ADMIN_RULES.get(self.opts.label_lower)

    def _roles(self, request) -> frozenset[str]:
        return user_roles(request.user)

    def has_view_permission(self, request, obj=None) -> bool:
        rule = self.rule
        return rule is not None and bool(self._roles(request) & (rule.view | rule.writers()))

    def has_module_permission(self, request) -> bool:
        return self.has_view_permission(request)

    def has_add_permission(self, request, *args) -> bool:
        return self.rule is not None and _allowed(request, self.rule.add)

    def has_change_permission(self, request, obj=None) -> bool:
        return self.rule is not None and _allowed(request, self.rule.change)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self.rule is not None and _allowed(request, self.rule.delete)

    def get_actions(self, request):
        actions = super().get_actions(request)
        # Django's "delete selected" would delete rows without a service: never offered.
        actions.pop("delete_selected", None)
        rule = self.rule
        if rule is None:
            return {}
        return {
            name: spec
            for name, spec in actions.items()
            if name in rule.actions and _allowed(request, rule.actions[name])
        }

    # --- writes only through services ---------------------------------------------------------

    def service_save(self, request, obj, form, change: bool):
        """Save through the audited service (subclasses that allow add or change)."""
        raise PermissionDenied("This model is not changed through the admin.")

    def save_model(self, request, obj, form, change):
        saved = self.service_save(request, obj, form, change)
        if saved is not None and saved is not obj:
            obj.pk = saved.pk
            obj._state.adding = False

    def save_related(self, request, form, formsets, change):
        """Related rows (inlines, many-to-many) are never written by the admin itself."""

    def delete_model(self, request, obj):
        raise PermissionDenied("Rows are not deleted through the admin.")

    def delete_queryset(self, request, queryset):
        raise PermissionDenied("Rows are not deleted through the admin.")

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ApplicationError as exc:
            # The service refused: its transaction (and the admin's) rolled back; say why.
            messages.error(request, exc.message)
            return HttpResponseRedirect(request.get_full_path())


def service_action(
    *,
    name: str,
    description: str,
    run: Callable[[Any, Any, dict], Any],
    form_class: type | None = None,
    done: Callable[[Any, dict], str] | None = None,
):
    """An admin action that calls ``run(obj, actor, data)`` (an audited service) per selected
    row, asking first for ``form_class``'s fields on an intermediate page when given. Each row is
    its own transaction: refusals are shown per row as admin messages and change nothing."""

    def action(modeladmin, request, queryset):
        data: dict = {}
        if form_class is not None:
            form = form_class(request.POST if "apply" in request.POST else None)
            if not form.is_bound or not form.is_valid():
                return TemplateResponse(
                    request,
                    "admin/action_form.html",
                    {
                        **modeladmin.admin_site.each_context(request),
                        "title": description,
                        "opts": modeladmin.opts,
                        "form": form,
                        "queryset": queryset,
                        "action": request.POST.get("action", ""),
                        "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
                        "select_across": request.POST.get("select_across", "0"),
                    },
                )
            data = form.cleaned_data
        for obj in queryset:
            try:
                result = run(obj, request.user, data)
            except ApplicationError as exc:
                modeladmin.message_user(request, f"{obj}: {exc.message}", messages.ERROR)
                continue
            text = done(result, data) if done else "Done."
            modeladmin.message_user(request, f"{obj}: {text}", messages.SUCCESS)
        return None

    action.__name__ = name
    action.__qualname__ = name
    action.short_description = description
    return action


class ReadOnlyAdmin(RoleModelAdmin):
    """Records written by the system (or append-only): shown, never changed here."""

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]
