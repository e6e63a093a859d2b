"""Read-side queries of the case domain. Every user-facing read filters by role (fail closed)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count, F, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from scoring.models import Transaction

from .models import Attachment, AuditEvent, Case, Note
from .permissions import INVESTIGATOR, SUPERVISOR, user_can
from .workflow import CASE_ACTIONS, PAGE

# Sort keys the queue accepts (anything else falls back to the default order).
CASE_SORTS = {
    "priority": ("-priority_rank", "created_at"),
    "-priority": ("priority_rank", "-created_at"),
    "risk": ("risk_score", "id"),
    "-risk": ("-risk_score", "id"),
    "age": ("-created_at", "-id"),
    "-age": ("created_at", "id"),
    "due": (F("due_at").asc(nulls_last=True), "id"),
    "-due": (F("due_at").desc(nulls_last=True), "id"),
    "account": ("account_id", "id"),
    "-account": ("-account_id", "-id"),
    "status": ("status", "-priority_rank"),
    "-status": ("-status", "-priority_rank"),
}
# Age buckets offered by the queue filter: (lower bound, upper bound) of time since opening.
CASE_AGES = {
    "lt1d": (None, timedelta(days=1)),
    "1to3d": (timedelta(days=1), timedelta(days=3)),
    "3to7d": (timedelta(days=3), timedelta(days=7)),
    "gt7d": (timedelta(days=7), None),
}
SLA_STATES = ("breached", "due_soon", "ok")
# Largest primary key the database holds: a longer number in a URL or form is "no such row".
MAX_ID = 2**63 - 1


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _sla_q(state: str, now: datetime) -> Q:
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


def case_list(*, user, filters: dict[str, Any] | None = None) -> QuerySet[Case]:
    """Cases the user may see, filtered and sorted. Unknown roles get nothing.

    ``status`` takes a status, ``open`` (every open status) or nothing (all).
    """
    if not user_can(user, "case.view"):
        return Case.objects.none()
    qs = Case.objects.select_related("assignee")
    filters = filters or {}
    now = timezone.now()
    status = filters.get("status")
    if status == "open":
        qs = qs.filter(status__in=Case.OPEN_STATUSES)
    elif status in Case.Status.values:
        qs = qs.filter(status=status)
    if (priority := filters.get("priority")) in Case.Priority.values:
        qs = qs.filter(priority=priority)
    if account := (filters.get("account_id") or "").strip():
        qs = qs.filter(account_id=account)
    assignee = filters.get("assignee")
    if assignee == "me":
        qs = qs.filter(assignee=user)
    elif assignee == "none":
        qs = qs.filter(assignee__isnull=True)
    elif assignee:
        qs = qs.filter(assignee__username=assignee)
    if (risk_min := _int(filters.get("risk_min"))) is not None:
        qs = qs.filter(risk_score__gte=risk_min)
    if (risk_max := _int(filters.get("risk_max"))) is not None:
        qs = qs.filter(risk_score__lte=risk_max)
    if (age := filters.get("age")) in CASE_AGES:
        older_than, younger_than = CASE_AGES[age]
        if older_than is not None:
            qs = qs.filter(created_at__lte=now - older_than)
        if younger_than is not None:
            qs = qs.filter(created_at__gt=now - younger_than)
    if (sla := filters.get("sla")) in SLA_STATES:
        qs = qs.filter(_sla_q(sla, now))
    if tag := (filters.get("tag") or "").strip():
        qs = qs.filter(tags__name=tag.lower())
    if q := (filters.get("q") or "").strip():
        matching = Transaction.objects.filter(
            Q(external_id=q) | Q(merchant_id__iexact=q) | Q(account_id__iexact=q)
        ).values("pk")
        qs = qs.filter(
            Q(account_id__icontains=q)
            | Q(title__icontains=q)
            | Q(case_transactions__transaction__in=matching)
        ).distinct()
    if created_from := filters.get("created_from"):
        qs = qs.filter(created_at__gte=created_from)
    if created_to := filters.get("created_to"):
        qs = qs.filter(created_at__lte=created_to)
    sort = CASE_SORTS.get(filters.get("sort") or "")
    if sort:
        qs = qs.order_by(*sort)
    return qs


def case_get(*, user, case_id: int) -> Case | None:
    """One case if the user may see it."""
    if not 0 < case_id <= MAX_ID:
        return None
    return (
        case_list(user=user)
        .select_related("closed_by", "closure_requested_by")
        .filter(pk=case_id)
        .first()
    )


def case_available_actions(*, user, case: Case) -> set[str]:
    """The action codes this user may take on this case now (what the pages offer), from the
    workflow table: the status allows it and ``user_can`` says yes."""
    available = set()
    for action in CASE_ACTIONS:
        if PAGE not in action.surfaces or case.status not in action.from_statuses:
            continue
        if user_can(user, action.code, case):
            available.add(action.code)
    if "case.claim" in available and case.assignee_id is not None:
        available.discard("case.claim")
    return available


def case_notes(*, user, case: Case) -> QuerySet[Note]:
    """The case's notes, oldest first (removed ones as tombstones), for those who see cases."""
    if not user_can(user, "case.view"):
        return Note.objects.none()
    return case.notes.select_related("author", "deleted_by", "corrects")


def case_attachments(*, user, case: Case) -> QuerySet[Attachment]:
    """The case's attachments (removed ones as tombstones), for those who see cases."""
    if not user_can(user, "case.view"):
        return Attachment.objects.none()
    return case.attachments.select_related("uploaded_by", "deleted_by")


def users_who_work_cases() -> QuerySet:
    """Active users with the investigator or supervisor role (assignment targets)."""
    return (
        get_user_model()
        .objects.filter(is_active=True, groups__name__in=(INVESTIGATOR, SUPERVISOR))
        .distinct()
        .order_by("username")
    )


@dataclass
class LinkedCase:
    case: Case
    via: list[str]


def case_linked(*, case: Case, limit: int = 20) -> list[LinkedCase]:
    """Other cases sharing the account, a device, merchant or counterparty with this case."""
    keys = {"device_id": set(), "merchant_id": set(), "counterparty_id": set()}
    for row in Transaction.objects.filter(case_link__case=case).values(*keys):
        for name in keys:
            if row[name]:
                keys[name].add(row[name])
    found: dict[int, LinkedCase] = {}

    def collect(qs: QuerySet[Case], label: str) -> None:
        for other in qs.exclude(pk=case.pk).select_related("assignee").distinct()[:limit]:
            found.setdefault(other.pk, LinkedCase(case=other, via=[]))
            if label not in found[other.pk].via:
                found[other.pk].via.append(label)

    collect(Case.objects.filter(account_id=case.account_id), f"account {case.account_id}")
    labels = {"device_id": "device", "merchant_id": "merchant", "counterparty_id": "counterparty"}
    for name, values in keys.items():
        for value in sorted(values)[:10]:
            lookup = {f"case_transactions__transaction__{name}": value}
            collect(Case.objects.filter(**lookup), f"{labels[name]} {value}")
    return sorted(found.values(), key=lambda lc: -lc.case.pk)[:limit]


def case_account_history(*, case: Case, days: int = 30, limit: int = 200) -> list[Transaction]:
    """The account's transactions from ``days`` before the case's latest trigger onwards (oldest
    first, at most ``limit``), for the table and timeline chart."""
    linked = list(Transaction.objects.filter(case_link__case=case).values_list("occurred_at"))
    anchor = max((t for (t,) in linked), default=timezone.now())
    since = anchor - timedelta(days=days)
    rows = list(
        Transaction.objects.filter(account_id=case.account_id, occurred_at__gte=since)
        .select_related("case_link")
        .order_by("-occurred_at")[:limit]
    )
    rows.reverse()
    return rows


def case_timeline(*, user, case: Case) -> QuerySet[AuditEvent]:
    """Everything that happened on the case, oldest first."""
    if not user_can(user, "case.view"):
        return AuditEvent.objects.none()
    return AuditEvent.objects.filter(case=case).select_related("actor").order_by("id")


def attachment_get(*, user, attachment_id: int) -> Attachment | None:
    """An attachment if the user may download it (fail closed)."""
    if not user_can(user, "case.attachment_download") or not 0 < attachment_id <= MAX_ID:
        return None
    return (
        Attachment.objects.select_related("case")
        .filter(pk=attachment_id, deleted_at__isnull=True)
        .first()
    )


def workload(*, user) -> list[dict[str, Any]]:
    """Open cases per assignee and status (supervisors' and the dashboard's workload table)."""
    if not user_can(user, "dashboard.view"):
        return []
    rows = (
        Case.objects.filter(status__in=Case.OPEN_STATUSES, assignee__isnull=False)
        .order_by()
        .values("assignee__username", "status")
        .annotate(n=Count("id"))
    )
    overdue = dict(
        Case.objects.filter(
            status__in=Case.OPEN_STATUSES, assignee__isnull=False, due_at__lte=timezone.now()
        )
        .order_by()
        .values_list("assignee__username")
        .annotate(n=Count("id"))
        .values_list("assignee__username", "n")
    )
    people: dict[str, dict[str, Any]] = {}
    for row in rows:
        name = row["assignee__username"]
        entry = people.setdefault(name, {"username": name, "total": 0, "overdue": 0})
        entry[row["status"]] = row["n"]
        entry["total"] += row["n"]
    for name, n in overdue.items():
        people.setdefault(name, {"username": name, "total": 0})["overdue"] = n
    return sorted(people.values(), key=lambda e: (-e["total"], e["username"]))


def supervisor_overview(*, user) -> dict[str, Any]:
    """Escalations, closures waiting for approval, SLA breaches and workload."""
    if not user_can(user, "supervisor.view"):
        return {}
    base = case_list(user=user).prefetch_related("tags")
    now = timezone.now()
    return {
        "escalated": list(base.filter(status=Case.Status.ESCALATED).order_by("escalated_at")),
        "pending": list(
            base.filter(status=Case.Status.PENDING_APPROVAL)
            .select_related("closure_requested_by")
            .order_by("updated_at")
        ),
        "breached": list(
            base.filter(_sla_q("breached", now)).exclude(status=Case.Status.ESCALATED)[:100]
        ),
        "workload": workload(user=user),
        "unassigned": base.filter(status=Case.Status.NEW, assignee__isnull=True).count(),
    }


def dashboard_stats(*, user, days: int = 14) -> dict[str, Any]:
    """Figures for ``/dashboard/``."""
    if not user_can(user, "dashboard.view"):
        return {}
    now = timezone.now()
    cases = case_list(user=user).order_by()
    open_cases = cases.filter(status__in=Case.OPEN_STATUSES)
    by_prio_status: dict[str, dict[str, int]] = {
        p: {s: 0 for s in Case.OPEN_STATUSES} for p in Case.Priority.values
    }
    for row in open_cases.values("priority", "status").annotate(n=Count("id")):
        by_prio_status[row["priority"]][row["status"]] = row["n"]
    start = (now - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    per_day_raw = dict(
        cases.filter(created_at__gte=start)
        .annotate(day=TruncDate("created_at"))
        .values_list("day")
        .annotate(n=Count("id"))
        .values_list("day", "n")
    )
    per_day = []
    for i in range(days):
        day = (start + timedelta(days=i)).date()
        per_day.append({"day": day, "n": per_day_raw.get(day, 0)})
    closed = dict(
        cases.filter(status=Case.Status.CLOSED)
        .values_list("disposition")
        .annotate(n=Count("id"))
        .values_list("disposition", "n")
    )
    closed_total = sum(closed.values())
    confirmed = closed.get(Case.Disposition.FRAUD_CONFIRMED, 0)
    scored = Transaction.objects.filter(
        status=Transaction.Status.SCORED, scored_at__gte=now - timedelta(hours=1)
    )
    scored_by_level = dict(
        scored.order_by()
        .values_list("risk_level")
        .annotate(n=Count("id"))
        .values_list("risk_level", "n")
    )
    return {
        "open_total": open_cases.count(),
        "by_priority_status": by_prio_status,
        "sla_breached": open_cases.filter(due_at__lte=now).count(),
        "per_day": per_day,
        "per_day_max": max((d["n"] for d in per_day), default=0),
        "closed_total": closed_total,
        "closed_by_disposition": closed,
        "fraud_confirmed": confirmed,
        "precision": (confirmed / closed_total) if closed_total else None,
        "workload": workload(user=user),
        "scored_last_hour": sum(scored_by_level.values()),
        "scored_last_hour_by_level": scored_by_level,
    }


AUDIT_FILTERS = (
    "action",
    "actor",
    "case",
    "object_type",
    "object_id",
    "request_id",
    "since",
    "until",
)


def audit_event_list(*, user, filters: dict[str, Any] | None = None) -> QuerySet[AuditEvent]:
    """Audit events for auditors and admins, newest first, filtered."""
    if not user_can(user, "audit.view"):
        return AuditEvent.objects.none()
    qs = AuditEvent.objects.order_by("-id")
    filters = filters or {}
    if action := (filters.get("action") or "").strip():
        qs = (
            qs.filter(action__startswith=action)
            if action.endswith(".")
            else qs.filter(action=action)
        )
    if actor := (filters.get("actor") or "").strip():
        qs = qs.filter(actor_label__icontains=actor)
    if (case_id := _int(filters.get("case"))) is not None:
        qs = qs.filter(case_id=case_id)
    if object_type := (filters.get("object_type") or "").strip():
        qs = qs.filter(object_type=object_type)
    if object_id := (filters.get("object_id") or "").strip():
        qs = qs.filter(object_id=object_id)
    if request_id := (filters.get("request_id") or "").strip():
        qs = qs.filter(request_id=request_id)
    if since := filters.get("since"):
        qs = qs.filter(created_at__gte=since)
    if until := filters.get("until"):
        qs = qs.filter(created_at__lte=until)
    return qs


def audit_actions() -> list[str]:
    """Distinct action codes in the log (for the filter's choices)."""
    return list(AuditEvent.objects.order_by("action").values_list("action", flat=True).distinct())
