"""Routing in the Django admin: queues (admins), memberships (supervisors and admins) and duty
flags (supervisors and admins, for anyone). Every write goes through
``fraudcases.services.routing`` and leaves its audit event; a bad queue definition is a form
error. Registered from ``fraudcases.admin``; the rules are walked by
``tests/project/test_admin_walk.py``.
"""

from __future__ import annotations

import itertools

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.http import HttpResponseRedirect

from core.admin_rules import READ_ALL, ModelRule, RoleModelAdmin, Write, admin_rule
from core.errors import ApplicationError
from core.roles import ADMIN, INVESTIGATOR, SUPERVISOR

from .models import CaseQueue, InvestigatorDuty, QueueMembership
from .queue_criteria import criteria_summary
from .selectors import users_who_work_cases
from .services import routing

ADMINS = frozenset({ADMIN})
PEOPLE_KEEPERS = frozenset({SUPERVISOR, ADMIN})
_walk_ids = itertools.count(1)


def _person(role: str = INVESTIGATOR):
    """A person with a role (the admin walk's samples)."""
    n = next(_walk_ids)
    user = get_user_model().objects.create_user(
        f"route-walk-{n}-{get_user_model().objects.count()}"
    )
    user.groups.add(Group.objects.get(name=role))
    return user


def _queue(action: str | None = None) -> CaseQueue:
    n = CaseQueue.objects.count() + next(_walk_ids)
    return CaseQueue.objects.create(
        name=f"walk queue {n}", position=10 + n, criteria={"reason_codes": ["velocity"]}
    )


def _queue_data(**changes) -> dict:
    return {
        "name": f"walk queue new {next(_walk_ids)}",
        "description": "",
        "position": "20",
        "active": "on",
        "criteria": '{"priority": ["critical"], "risk_min": 90}',
        "assign_mode": CaseQueue.AssignMode.ROUND_ROBIN,
        "max_open_per_person": "5",
        "snooze_pauses_sla": "on",
    } | changes


# --- Queues -------------------------------------------------------------------------------------


class CaseQueueForm(forms.ModelForm):
    """The queue's fields; the criteria are checked by their validator (every problem named)
    and a second default queue is a form error."""

    class Meta:
        model = CaseQueue
        fields = routing.QUEUE_FIELDS

    def _get_validation_exclusions(self):
        # ``one_default_queue`` is checked in ``clean`` with a message people understand.
        return {*super()._get_validation_exclusions(), "is_default"}

    def clean(self):
        data = super().clean()
        if data.get("is_default"):
            other = CaseQueue.objects.filter(is_default=True).exclude(pk=self.instance.pk).first()
            if other is not None:
                self.add_error(
                    "is_default", f"'{other.name}' is the default queue; unmark it first."
                )
            if not data.get("active"):
                self.add_error("active", "The default queue stays active.")
        return data


@admin.register(CaseQueue)
class CaseQueueAdmin(RoleModelAdmin):
    """Queues in routing order: a new case lands in the first it matches."""

    form = CaseQueueForm
    list_display = (
        "name",
        "position",
        "is_default",
        "active",
        "definition",
        "assign_mode",
        "max_open_per_person",
        "snooze_pauses_sla",
        "member_count",
    )
    ordering = ("position", "id")
    search_fields = ("name", "description")

    @admin.display(description="matches")
    def definition(self, queue: CaseQueue) -> str:
        return "the rest (default)" if queue.is_default else criteria_summary(queue.criteria or {})

    @admin.display(description="members")
    def member_count(self, queue: CaseQueue) -> int:
        return queue.memberships.count()

    def service_save(self, request, obj, form, change):
        values = {name: form.cleaned_data[name] for name in routing.QUEUE_FIELDS}
        return routing.queue_save(
            actor=request.user, queue=obj if change else CaseQueue(), values=values
        )


admin_rule(
    "fraudcases.casequeue",
    ModelRule(
        view=READ_ALL,
        add=Write(roles=ADMINS, audit=("queue.create",)),
        change=Write(roles=ADMINS, audit=("queue.update",)),
        example=_queue,
        add_data=_queue_data,
        change_data=lambda queue: _queue_data(name=queue.name, position="7", assign_mode="off"),
    ),
)


# --- Memberships -------------------------------------------------------------------------------


@admin.register(QueueMembership)
class QueueMembershipAdmin(RoleModelAdmin):
    """Who works which queue; adding and removing people is audited (their cases stay theirs)."""

    list_display = ("queue", "user", "added_at", "added_by")
    list_filter = ("queue",)
    search_fields = ("user__username", "queue__name")
    fields = ("queue", "user")
    list_select_related = ("queue", "user", "added_by")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user":
            kwargs["queryset"] = users_who_work_cases()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return ("queue", "user") if obj is not None else ()

    def service_save(self, request, obj, form, change):
        return routing.queue_member_add(
            actor=request.user, queue=form.cleaned_data["queue"], user=form.cleaned_data["user"]
        )

    def delete_model(self, request, obj):
        routing.queue_member_remove(actor=request.user, membership=obj)

    def delete_queryset(self, request, queryset):
        for membership in queryset:
            routing.queue_member_remove(actor=request.user, membership=membership)

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return HttpResponseRedirect(request.get_full_path())


def _membership(action: str | None = None) -> QueueMembership:
    return QueueMembership.objects.create(queue=_queue(), user=_person())


admin_rule(
    "fraudcases.queuemembership",
    ModelRule(
        view=READ_ALL,
        add=Write(roles=PEOPLE_KEEPERS, audit=("queue.member_add",)),
        delete=Write(roles=PEOPLE_KEEPERS, audit=("queue.member_remove",)),
        example=_membership,
        add_data=lambda: {"queue": _queue().pk, "user": _person().pk},
    ),
)


# --- Duty -----------------------------------------------------------------------------------------


@admin.register(InvestigatorDuty)
class InvestigatorDutyAdmin(RoleModelAdmin):
    """Off duty / absent: no auto-assigned cases meanwhile. People set their own off-duty flag
    on /cases/duty/; supervisors and admins set anyone's here (and record absence)."""

    list_display = ("user", "state", "off_duty", "absent", "note", "updated_at", "updated_by")
    list_filter = ("off_duty", "absent")
    search_fields = ("user__username", "note")
    fields = ("user", "off_duty", "absent", "note")
    list_select_related = ("user", "updated_by")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user":
            kwargs["queryset"] = users_who_work_cases()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return ("user",) if obj is not None else ()

    def service_save(self, request, obj, form, change):
        return routing.duty_update(
            actor=request.user,
            user=obj.user if change else form.cleaned_data["user"],
            off_duty=form.cleaned_data["off_duty"],
            absent=form.cleaned_data["absent"],
            note=form.cleaned_data["note"],
        )


def _duty(action: str | None = None) -> InvestigatorDuty:
    return InvestigatorDuty.objects.create(user=_person())


admin_rule(
    "fraudcases.investigatorduty",
    ModelRule(
        view=READ_ALL,
        add=Write(roles=PEOPLE_KEEPERS, audit=("duty.update",)),
        change=Write(roles=PEOPLE_KEEPERS, audit=("duty.update",)),
        example=_duty,
        add_data=lambda: {"user": _person().pk, "off_duty": "on", "note": "walk: lunch"},
        change_data=lambda duty: {"absent": "on", "note": "walk: on leave"},
    ),
)
