"""Read-side queries of the case domain. Every user-facing read filters by role (fail closed)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone

from core.models import AuditEvent
from core.permissions import INVESTIGATOR, SUPERVISOR, user_can
from scoring.models import Transaction

from .filters import CaseFilter, sla_q
from .models import Attachment, Case, Note
from .workflow import CASE_ACTIONS, PAGE

# Largest primary key the database holds: a longer number in a URL or form is "no such row".
MAX_ID = 2**63 - 1


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def case_filter(*, user, data: Mapping[str, Any] | None = None) -> CaseFilter:
    """The queue's filters (``fraudcases.filters.CaseFilter``) bound to ``data`` over the cases
    the user may see (unknown roles: none). ``.qs`` is the result; ``.errors`` names each
    value that is not valid (the page shows them, the API answers 400)."""
    base = (
        Case.objects.select_related("assignee", "queue")
        if user_can(user, "case.view")
        else Case.objects.none()
    )
    return CaseFilter(data, queryset=base, user=user)


def case_list(*, user, filters: Mapping[str, Any] | None = None) -> QuerySet[Case]:
    """Cases the user may see, filtered and sorted (``fraudcases.filters.CaseFilter``; a value
    that is not valid is ignored here, so callers that take user input check
    :func:`case_filter`'s errors first). Unknown roles get nothing."""
    return case_filter(user=user, data=filters).qs


def case_queue_page_filters(query: Mapping[str, Any]) -> dict[str, Any]:
    """The queue page's defaults: open cases that are not snoozed, unless the URL says."""
    data = {k: query.get(k) for k in query}
    data.setdefault("status", "open")
    data.setdefault("snoozed", "active")
    return data


def case_get(*, user, case_id: int) -> Case | None:
    """One case if the user may see it."""
    if not 0 < case_id <= MAX_ID:
        return None
    return (
        case_list(user=user)
        .select_related("closed_by", "closure_requested_by", "snoozed_by")
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
    if case.snoozed_until is None:
        available.discard("case.wake")
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
    # One query per kind of key (not one per value: issue 11, a constant number of queries),
    # then the cases themselves in one more; at most ``limit`` cases per value, as before.
    per_value: dict[tuple[str, str], list[int]] = {}
    for name, values in keys.items():
        field = f"case_transactions__transaction__{name}"
        pairs = (
            Case.objects.filter(**{f"{field}__in": sorted(values)[:10]})
            .exclude(pk=case.pk)
            .values_list(field, "pk")
            .distinct()
            .order_by(field, *Case._meta.ordering, "pk")
        )
        for value, pk in pairs if values else ():
            chosen = per_value.setdefault((labels[name], value), [])
            if len(chosen) < limit:
                chosen.append(pk)
    others = Case.objects.select_related("assignee").in_bulk(
        {pk for pks in per_value.values() for pk in pks}
    )
    for (label, value), pks in per_value.items():  # keys in order, values sorted
        for pk in pks:
            linked = found.setdefault(pk, LinkedCase(case=others[pk], via=[]))
            if f"{label} {value}" not in linked.via:
                linked.via.append(f"{label} {value}")
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
            base.filter(sla_q("breached", now)).exclude(status=Case.Status.ESCALATED)[:100]
        ),
        "workload": workload(user=user),
        "unassigned": base.filter(status=Case.Status.NEW, assignee__isnull=True).count(),
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


# --- Entity graph of a case (filters) ------------------------------------------------------------

GRAPH_ENTITIES = {
    "device_id": "device",
    "ip_address": "ip",
    "counterparty_id": "counterparty",
    "merchant_id": "merchant",
}
# Rows of other accounts' shared transactions read at most (popular merchants are shared by
# many accounts; the graph is cut, and says so, rather than reading them all).
GRAPH_MAX_SHARED_ROWS = 5000


def case_graph(*, user, case: Case) -> dict[str, Any]:
    """The case's entity graph: its account, the devices, IPs, counterparties and merchants the
    account used within ``CASE_GRAPH_WINDOW_DAYS`` of the case's latest transaction, the other
    accounts that used them in that window and those accounts' cases (depth 2 from the
    account). At most ``CASE_GRAPH_MAX_NODES`` nodes, nearest first; ``truncated`` says when
    it was cut. Six queries (the role check included) whatever the size. Nothing for users
    who may not see cases."""
    if not user_can(user, "case.view"):
        return {"nodes": [], "edges": [], "truncated": False}
    window = timedelta(days=settings.CASE_GRAPH_WINDOW_DAYS)
    max_nodes = settings.CASE_GRAPH_MAX_NODES
    fields = list(GRAPH_ENTITIES)
    anchor = (
        Transaction.objects.filter(case_link__case=case)
        .order_by("-occurred_at")
        .values_list("occurred_at", flat=True)
        .first()
    ) or timezone.now()
    in_window = Q(occurred_at__gte=anchor - window, occurred_at__lte=anchor + window)
    own = set(
        Transaction.objects.filter(in_window, account_id=case.account_id)
        .order_by()
        .values_list(*fields)
        .distinct()
    )
    entities: dict[str, set[str]] = {f: set() for f in fields}
    for row in own:
        for name, value in zip(fields, row, strict=True):
            if value:
                entities[name].add(str(value))
    shared = Q()
    for name, values in entities.items():
        if values:
            shared |= Q(**{f"{name}__in": sorted(values)})
    others: list[tuple] = []
    if shared:
        others = list(
            Transaction.objects.filter(in_window)
            .filter(shared)
            .exclude(account_id=case.account_id)
            .order_by()
            .values_list("account_id", *fields)
            .distinct()[: GRAPH_MAX_SHARED_ROWS + 1]
        )
    truncated = len(others) > GRAPH_MAX_SHARED_ROWS
    others = others[:GRAPH_MAX_SHARED_ROWS]
    accounts = {case.account_id} | {row[0] for row in others}
    risk = dict(
        Transaction.objects.filter(in_window, account_id__in=accounts)
        .order_by()
        .values_list("account_id")
        .annotate(top=Max("risk_score"))
        .values_list("account_id", "top")
    )
    cases = list(
        Case.objects.filter(account_id__in=accounts)
        .order_by("-created_at")
        .values("id", "account_id", "status", "risk_score", "risk_level", "disposition")[
            : max_nodes + 1
        ]
    )
    nodes: dict[str, dict[str, Any]] = {}
    edges: list[dict[str, str]] = []

    def add(node_id: str, **data: Any) -> bool:
        nonlocal truncated
        if node_id in nodes:
            return True
        if len(nodes) >= max_nodes:
            truncated = True
            return False
        nodes[node_id] = {"id": node_id, **data}
        return True

    def link(source: str, target: str, kind: str) -> None:
        if source in nodes and target in nodes:
            edges.append({"source": source, "target": target, "kind": kind})

    def account_node(account: str, depth: int) -> str:
        node_id = f"account:{account}"
        top = risk.get(account)
        add(
            node_id,
            type="account",
            label=account,
            depth=depth,
            risk=float(top) if top is not None else None,
        )
        return node_id

    def case_node(row: dict[str, Any], depth: int) -> str:
        node_id = f"case:{row['id']}"
        add(
            node_id,
            type="case",
            label=f"Case #{row['id']}",
            depth=depth,
            case_id=row["id"],
            status=row["status"],
            disposition=row["disposition"],
            risk=float(row["risk_score"]),
            risk_level=row["risk_level"],
            url=f"/cases/{row['id']}/",
        )
        return node_id

    this_case = next((r for r in cases if r["id"] == case.pk), None) or {
        "id": case.pk,
        "account_id": case.account_id,
        "status": case.status,
        "risk_score": case.risk_score,
        "risk_level": case.risk_level,
        "disposition": case.disposition,
    }
    root_case = case_node(this_case, 0)
    nodes[root_case]["current"] = True
    root = account_node(case.account_id, 0)
    link(root_case, root, "case of")
    for name, kind in GRAPH_ENTITIES.items():  # depth 1: what the account used
        for value in sorted(entities[name]):
            node_id = f"{kind}:{value}"
            if add(node_id, type=kind, label=value, depth=1):
                link(root, node_id, "used")
    for row in others:  # depth 2: other accounts using the same things
        other = account_node(row[0], 2)
        for name, value in zip(fields, row[1:], strict=True):
            if value and str(value) in entities[name]:
                link(other, f"{GRAPH_ENTITIES[name]}:{value}", "used")
    if len(cases) > max_nodes:
        truncated = True
    for row in cases:  # cases attached to the accounts in the graph
        account_id = f"account:{row['account_id']}"
        if account_id in nodes and case_node(row, nodes[account_id]["depth"]) in nodes:
            link(f"case:{row['id']}", account_id, "case of")
    unique_edges = list({(e["source"], e["target"]): e for e in edges}.values())
    return {"nodes": list(nodes.values()), "edges": unique_edges, "truncated": truncated}
