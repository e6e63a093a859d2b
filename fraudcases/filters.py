"""The case queue's filters, declared once (django-filter) for the queue page and the case API.

``CaseFilter`` parses and validates the query string (an unknown value is a form error naming
the field: the page shows it, the API answers 400 with it) and filters a queryset the selector
has already restricted to what the user may see (``fraudcases.selectors.case_list``).

- ``assignee``: ``mine`` or ``me`` (the user), ``none`` (nobody), or a username that exists;
- ``status``: a status, or ``open`` (every open status);
- ``snoozed``: ``active`` (not snoozed: the working queue), ``snoozed`` (only snoozed), or
  nothing (both);
- ``sort``: any column of the queue, ``-`` for the reverse order (``amount`` is the case total).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import django_filters
from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from core.datetimes import filter_datetime_utc
from scoring.models import Transaction

from .models import Case, CaseQueue, CaseTransaction

# Sort keys the queue accepts: every column, both directions (``-key`` reverses ``key``).
CASE_SORTS: dict[str, tuple] = {
    "id": ("id",),
    "-id": ("-id",),
    "priority": ("-priority_rank", "created_at"),
    "-priority": ("priority_rank", "-created_at"),
    "risk": ("risk_score", "id"),
    "-risk": ("-risk_score", "id"),
    "account": ("account_id", "id"),
    "-account": ("-account_id", "-id"),
    # The lead reason is the start of the case's title ("… risk on acct: <reason>").
    "reason": ("title", "id"),
    "-reason": ("-title", "-id"),
    "amount": ("transactions_total", "id"),
    "-amount": ("-transactions_total", "-id"),
    "status": ("status", "-priority_rank"),
    "-status": ("-status", "-priority_rank"),
    "assignee": (F("assignee__username").asc(nulls_first=True), "id"),
    "-assignee": (F("assignee__username").desc(nulls_last=True), "-id"),
    "age": ("-created_at", "-id"),
    "-age": ("created_at", "id"),
    "due": (F("due_at").asc(nulls_last=True), "id"),
    "-due": (F("due_at").desc(nulls_last=True), "id"),
}
SORT_LABELS = {
    "id": "Case number",
    "priority": "Priority",
    "risk": "Risk",
    "account": "Account",
    "reason": "Lead reason",
    "amount": "Case total",
    "status": "Status",
    "assignee": "Assignee",
    "age": "Age",
    "due": "SLA due",
}
# Age buckets: (lower bound, upper bound) of time since opening.
CASE_AGES = {
    "lt1d": (None, timedelta(days=1)),
    "1to3d": (timedelta(days=1), timedelta(days=3)),
    "3to7d": (timedelta(days=3), timedelta(days=7)),
    "gt7d": (timedelta(days=7), None),
}
CASE_AGE_LABELS = {
    "lt1d": "Under 1 day",
    "1to3d": "1–3 days",
    "3to7d": "3–7 days",
    "gt7d": "Over 7 days",
}
SLA_STATES = ("breached", "due_soon", "ok")
SLA_LABELS = {"breached": "Breached", "due_soon": "Due soon", "ok": "OK"}
ME = ("me", "mine")
NOBODY = "none"


def sla_q(state: str, now: datetime) -> Q:
    """Open cases whose SLA is ``breached``, ``due_soon`` or ``ok`` at ``now``."""
    open_q = Q(status__in=Case.OPEN_STATUSES, due_at__isnull=False)
    if state == "breached":
        return open_q & Q(due_at__lte=now)
    soon = Q()
    for priority, hours in settings.CASE_SLA_HOURS.items():
        horizon = now + timedelta(seconds=hours * 3600 * settings.CASE_SLA_DUE_SOON_SHARE)
        soon |= Q(priority=priority, due_at__lte=horizon)
    if state == "due_soon":
        return open_q & Q(due_at__gt=now) & soon
    if state == "ok":
        return open_q & Q(due_at__gt=now) & ~soon
    return Q()


class CaseFilterForm(forms.Form):
    """Cross-field and lookup checks of the case filters (a filter that names nothing real is
    an error, never an empty list)."""

    def clean_assignee(self):
        value = (self.cleaned_data.get("assignee") or "").strip()
        known = not value or value in ME or value == NOBODY
        if not known and not get_user_model().objects.filter(username=value).exists():
            # The value goes in as a parameter: messages are %-formatted later (by Django and
            # django-filter), so user input inside the message itself would break that.
            raise forms.ValidationError(
                "No user '%(value)s'. Use mine (or me), none, or a username.",
                code="unknown_user",
                params={"value": value},
            )
        return value

    def clean_created_from(self):
        return filter_datetime_utc(self.cleaned_data.get("created_from"))

    def clean_created_to(self):
        return filter_datetime_utc(self.cleaned_data.get("created_to"))

    def clean(self):
        data = super().clean()
        lo, hi = data.get("risk_min"), data.get("risk_max")
        if lo is not None and hi is not None and lo > hi:
            self.add_error("risk_max", "Must be at least the minimum risk.")
        lo, hi = data.get("created_from"), data.get("created_to")
        if lo and hi and lo > hi:
            self.add_error("created_to", "Must not be before created_from.")
        return data


class CaseFilter(django_filters.FilterSet):
    """The queue's filters (page and API). ``user`` is who asks (``assignee=mine``)."""

    status = django_filters.ChoiceFilter(
        choices=[("open", "Open (any)"), *Case.Status.choices],
        empty_label="All",
        method="filter_status",
    )
    priority = django_filters.ChoiceFilter(choices=Case.Priority.choices, empty_label="Any")
    assignee = django_filters.CharFilter(
        method="filter_assignee",
        max_length=150,
        help_text="mine (or me), none, or a username",
    )
    account_id = django_filters.CharFilter(method="filter_account", max_length=100)
    risk_min = django_filters.NumberFilter(
        field_name="risk_score", lookup_expr="gte", min_value=0, max_value=100, label="Risk ≥"
    )
    risk_max = django_filters.NumberFilter(
        field_name="risk_score", lookup_expr="lte", min_value=0, max_value=100, label="Risk ≤"
    )
    age = django_filters.ChoiceFilter(
        choices=list(CASE_AGE_LABELS.items()), empty_label="Any", method="filter_age"
    )
    sla = django_filters.ChoiceFilter(
        choices=[(k, SLA_LABELS[k]) for k in SLA_STATES],
        empty_label="Any",
        method="filter_sla",
        label="SLA",
    )
    snoozed = django_filters.ChoiceFilter(
        choices=[("active", "Not snoozed"), ("snoozed", "Snoozed only")],
        empty_label="Both",
        method="filter_snoozed",
    )
    tag = django_filters.CharFilter(method="filter_tag", max_length=50)
    # Routing: the case's queue (``fraudcases.services.routing``), by id.
    queue = django_filters.ModelChoiceFilter(
        queryset=CaseQueue.objects.order_by("position", "id"), empty_label="Any"
    )
    q = django_filters.CharFilter(method="filter_search", max_length=100, label="Search")
    created_from = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_to = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lte")
    # Declared last: ordering applies after every filter.
    sort = django_filters.ChoiceFilter(
        choices=[
            (k, SORT_LABELS[k.lstrip("-")] + (" ↓" if k[0] == "-" else "")) for k in CASE_SORTS
        ],
        empty_label="Risk (default)",
        method="filter_sort",
    )

    class Meta:
        model = Case
        fields: list[str] = []
        form = CaseFilterForm

    def __init__(self, data=None, queryset=None, *, user=None, request=None, **kwargs):
        super().__init__(data, queryset, request=request, **kwargs)
        # Who asks (``assignee=mine``): given by the selector, or the API request's user.
        self.user = user if user is not None else getattr(request, "user", None)

    def filter_status(self, qs: QuerySet[Case], name: str, value: str) -> QuerySet[Case]:
        if value == "open":
            return qs.filter(status__in=Case.OPEN_STATUSES)
        return qs.filter(status=value)

    def filter_assignee(self, qs: QuerySet[Case], name: str, value: str) -> QuerySet[Case]:
        if value in ME:
            return qs.filter(assignee_id=getattr(self.user, "pk", None))
        if value == NOBODY:
            return qs.filter(assignee__isnull=True)
        return qs.filter(assignee__username=value)

    def filter_account(self, qs: QuerySet[Case], name: str, value: str) -> QuerySet[Case]:
        value = value.strip()
        return qs.filter(account_id=value) if value else qs

    def filter_age(self, qs: QuerySet[Case], name: str, value: str) -> QuerySet[Case]:
        now = timezone.now()
        older_than, younger_than = CASE_AGES[value]
        if older_than is not None:
            qs = qs.filter(created_at__lte=now - older_than)
        if younger_than is not None:
            qs = qs.filter(created_at__gt=now - younger_than)
        return qs

    def filter_sla(self, qs: QuerySet[Case], name: str, value: str) -> QuerySet[Case]:
        return qs.filter(sla_q(value, timezone.now()))

    def filter_snoozed(self, qs: QuerySet[Case], name: str, value: str) -> QuerySet[Case]:
        return qs.filter(snoozed_until__isnull=(value == "active"))

    def filter_tag(self, qs: QuerySet[Case], name: str, value: str) -> QuerySet[Case]:
        value = value.strip().lower()
        return qs.filter(tags__name=value) if value else qs

    def filter_search(self, qs: QuerySet[Case], name: str, value: str) -> QuerySet[Case]:
        value = value.strip()
        if not value:
            return qs
        matching = Transaction.objects.filter(
            Q(external_id=value) | Q(merchant_id__iexact=value) | Q(account_id__iexact=value)
        ).values("pk")
        linked = CaseTransaction.objects.filter(transaction__in=matching).values("case_id")
        return qs.filter(
            Q(account_id__icontains=value) | Q(title__icontains=value) | Q(pk__in=linked)
        )

    def filter_sort(self, qs: QuerySet[Case], name: str, value: str) -> QuerySet[Case]:
        return qs.order_by(*CASE_SORTS[value])
