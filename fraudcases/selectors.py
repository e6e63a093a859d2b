"""Read-side queries of the case domain. Every user-facing read filters by role (fail closed)."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from .models import Case
from .permissions import user_can


def case_list(*, user, filters: dict[str, Any] | None = None) -> QuerySet[Case]:
    """Cases the user may see, filtered. Unknown roles get nothing."""
    if not user_can(user, "case.view"):
        return Case.objects.none()
    qs = Case.objects.select_related("assignee")
    filters = filters or {}
    if status := filters.get("status"):
        qs = qs.filter(status=status)
    if priority := filters.get("priority"):
        qs = qs.filter(priority=priority)
    if account := filters.get("account_id"):
        qs = qs.filter(account_id=account)
    assignee = filters.get("assignee")
    if assignee == "me":
        qs = qs.filter(assignee=user)
    elif assignee == "none":
        qs = qs.filter(assignee__isnull=True)
    elif assignee:
        qs = qs.filter(assignee__username=assignee)
    if q := (filters.get("q") or "").strip():
        qs = qs.filter(
            Q(account_id__icontains=q)
            | Q(title__icontains=q)
            | Q(transactions__external_id=q)
            | Q(transactions__merchant_id=q)
        ).distinct()
    if created_from := filters.get("created_from"):
        qs = qs.filter(created_at__gte=created_from)
    if created_to := filters.get("created_to"):
        qs = qs.filter(created_at__lte=created_to)
    return qs


def case_get(*, user, case_id: int) -> Case | None:
    """One case if the user may see it."""
    return case_list(user=user).filter(pk=case_id).first()
