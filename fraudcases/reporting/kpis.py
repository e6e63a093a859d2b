"""Team KPIs for supervisors: per investigator and for the team, and who can take more work.

A closure is credited to the person who asked for it (four-eyes) or else who closed it: the
investigator whose judgement it was, not the approving supervisor. Grouped queries: one for
closures, one for open load, one for quality reviews, one for the team's medians.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from core.permissions import user_can

from ..models import Case, QAReview
from ..selectors import users_who_work_cases
from .sql import Median, Seconds

PERIODS = (7, 14, 30, 90)
D = Case.Disposition


@dataclass
class PersonKpis:
    """One investigator's figures over the period (``None`` where there is nothing to measure)."""

    username: str
    open_load: int = 0
    open_weighted: int = 0
    overdue_open: int = 0
    closed: int = 0
    closed_per_day: float = 0.0
    median_handling_hours: float | None = None
    closed_late: int = 0
    escalated: int = 0
    escalation_rate: float | None = None
    dispositions: dict[str, int] = field(default_factory=dict)
    reviewed: int = 0
    overturned: int = 0
    overturn_rate: float | None = None
    capacity: int = 0

    @property
    def sla_breaches(self) -> int:
        """Closed after their due time in the period, plus open and overdue now."""
        return self.closed_late + self.overdue_open

    @property
    def room(self) -> int:
        """How many more open cases this person can take (``TEAM_CAPACITY_OPEN_CASES``)."""
        return max(self.capacity - self.open_load, 0)

    @property
    def load_share(self) -> float:
        return min(self.open_load / self.capacity, 1.0) if self.capacity else 1.0


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def team_kpis(*, user, days: int = 30, now: datetime | None = None) -> dict[str, Any] | None:
    """Per-person and team figures over the last ``days`` days; ``None`` without
    ``supervisor.view`` (fail closed)."""
    if not user_can(user, "supervisor.view"):
        return None
    now = now or timezone.now()
    since = now - timedelta(days=days)
    capacity = settings.TEAM_CAPACITY_OPEN_CASES
    people: dict[str, PersonKpis] = {
        u.get_username(): PersonKpis(username=u.get_username(), capacity=capacity)
        for u in users_who_work_cases()
    }

    def person(name: str | None) -> PersonKpis:
        key = name or "(nobody)"
        return people.setdefault(key, PersonKpis(username=key, capacity=capacity))

    credited = Coalesce("closure_requested_by__username", "closed_by__username")
    closed = Case.objects.filter(
        status=Case.Status.CLOSED, closed_at__gte=since, closed_at__lte=now
    )
    disposition_counts = {
        f"d_{value}": Count("id", filter=Q(disposition=value)) for value in D.values
    }
    for r in (
        closed.order_by()
        .annotate(person=credited)
        .values("person")
        .annotate(
            n=Count("id"),
            median=Median(Seconds(F("closed_at"), F("created_at"))),
            late=Count("id", filter=Q(due_at__lt=F("closed_at"))),
            escalated=Count("id", filter=Q(escalated_at__isnull=False)),
            **disposition_counts,
        )
    ):
        p = person(r["person"])
        p.closed = r["n"]
        p.closed_per_day = round(r["n"] / days, 2)
        p.median_handling_hours = None if r["median"] is None else round(r["median"] / 3600, 2)
        p.closed_late = r["late"]
        p.escalated = r["escalated"]
        p.escalation_rate = _rate(r["escalated"], r["n"])
        p.dispositions = {value: r[f"d_{value}"] for value in D.values}

    for r in (
        Case.objects.filter(status__in=Case.OPEN_STATUSES, assignee__isnull=False)
        .order_by()
        .values("assignee__username")
        .annotate(
            n=Count("id"),
            weighted=Sum("priority_rank"),
            overdue=Count("id", filter=Q(due_at__lte=now)),
        )
    ):
        p = person(r["assignee__username"])
        p.open_load, p.open_weighted, p.overdue_open = r["n"], r["weighted"] or 0, r["overdue"]

    for r in (
        QAReview.objects.filter(closed_at__gte=since, closed_at__lte=now)
        .exclude(verdict="")
        .order_by()
        .values("investigator__username")
        .annotate(n=Count("id"), over=Count("id", filter=Q(verdict=QAReview.Verdict.OVERTURN)))
    ):
        p = person(r["investigator__username"])
        p.reviewed, p.overturned = r["n"], r["over"]
        p.overturn_rate = _rate(r["over"], r["n"])

    team_median = closed.aggregate(m=Median(Seconds(F("closed_at"), F("created_at"))))["m"]
    rows = sorted(people.values(), key=lambda p: (-p.room, p.open_weighted, p.username))
    team = PersonKpis(username="Team", capacity=capacity * len(people))
    for p in rows:
        team.open_load += p.open_load
        team.open_weighted += p.open_weighted
        team.overdue_open += p.overdue_open
        team.closed += p.closed
        team.closed_late += p.closed_late
        team.escalated += p.escalated
        team.reviewed += p.reviewed
        team.overturned += p.overturned
        for value, n in p.dispositions.items():
            team.dispositions[value] = team.dispositions.get(value, 0) + n
    team.closed_per_day = round(team.closed / days, 2)
    team.median_handling_hours = None if team_median is None else round(team_median / 3600, 2)
    team.escalation_rate = _rate(team.escalated, team.closed)
    team.overturn_rate = _rate(team.overturned, team.reviewed)
    return {"days": days, "since": since, "people": rows, "team": team, "capacity": capacity}
