"""Reads of routing: the cases ``/cases/next/`` offers a person, their queues, queue counts.

Fail closed like the other selectors: a user without the permission gets nothing.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Case as Choose
from django.db.models import Count, F, IntegerField, Q, QuerySet, Value, When

from core.permissions import user_can

from .models import Case, CaseQueue, InvestigatorDuty, QueueMembership


def user_queue_ids(*, user) -> list[int]:
    """The ids of the queues the person belongs to (empty: none)."""
    return list(QueueMembership.objects.filter(user=user).values_list("queue_id", flat=True))


def claimable_cases(*, user) -> QuerySet[Case]:
    """What ``/cases/next/`` offers ``user``, best first.

    New, not snoozed cases that are unassigned or already auto-assigned to them, in the queues
    they belong to (cases without a queue count as the default queue's), or in every queue
    when they belong to none. Their own auto-assigned cases come first, then queue order, then
    priority (which follows the risk level), SLA due time and age. Nothing without
    ``case.claim``.
    """
    if not user_can(user, "case.claim"):
        return Case.objects.none()
    mine = Q(assignee_id=user.pk)
    qs = Case.objects.filter(status=Case.Status.NEW, snoozed_until__isnull=True).filter(
        Q(assignee__isnull=True) | mine
    )
    queue_ids = user_queue_ids(user=user)
    if queue_ids:
        in_queues = Q(queue_id__in=queue_ids)
        if CaseQueue.objects.filter(pk__in=queue_ids, is_default=True).exists():
            in_queues |= Q(queue__isnull=True)
        qs = qs.filter(in_queues | mine)
    own_first = Choose(When(mine, then=Value(0)), default=Value(1), output_field=IntegerField())
    return qs.annotate(own_first=own_first).order_by(
        "own_first",
        F("queue__position").asc(nulls_last=True),
        "-priority_rank",
        F("due_at").asc(nulls_last=True),
        "created_at",
        "id",
    )


def my_queues(*, user) -> list[dict[str, Any]]:
    """The person's queues in order, each with how many cases wait in it for ``Next case``
    (one query)."""
    if not user_can(user, "case.view"):
        return []
    waiting = Q(
        cases__status=Case.Status.NEW,
        cases__assignee__isnull=True,
        cases__snoozed_until__isnull=True,
    )
    rows = (
        CaseQueue.objects.filter(memberships__user=user)
        .annotate(waiting=Count("cases", filter=waiting, distinct=True))
        .order_by("position", "id")
    )
    return [
        {
            "id": q.pk,
            "name": q.name,
            "waiting": q.waiting,
            "assign_mode": q.get_assign_mode_display(),
        }
        for q in rows
    ]


def duty_get(*, user) -> InvestigatorDuty:
    """The person's duty flags (an unsaved on-duty row when never set)."""
    return InvestigatorDuty.objects.filter(user=user).first() or InvestigatorDuty(user=user)
