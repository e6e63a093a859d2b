"""Opening cases from scoring hits, or attaching risky transactions to the account's open case."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Sum

from core import metrics
from core.audit import PendingEvent, audit_record_many
from scoring.hits import CaseHit
from scoring.models import Transaction

from ..models import Case, CaseTransaction
from ._common import LEVEL_RANK, SYSTEM_WORKER, _sla_due
from .routing import FACT_FIELDS, Route, Router, auto_assign_event, case_facts, transaction_facts
from .snooze import case_wake_event

PRIORITY_ORDER = ("low", "medium", "high", "critical")


def case_priority(*, level: str, exposure: Decimal) -> str:
    """A case's priority: its highest risk level, one step higher (never above critical) when
    the amount at risk across its transactions exceeds ``CASE_EXPOSURE_ESCALATION``."""
    step = PRIORITY_ORDER.index(level) if level in PRIORITY_ORDER else 0
    if exposure > settings.CASE_EXPOSURE_ESCALATION:
        step = min(step + 1, len(PRIORITY_ORDER) - 1)
    return PRIORITY_ORDER[step]


def _exposures(*, cases: list[Case], transaction_ids: list[int]) -> tuple[dict, dict, dict]:
    """Amounts at risk in ``DEFAULT_CURRENCY`` (two queries): per open case, the sum over the
    transactions already on it; per transaction id, its amount. Other currencies do not count:
    the system holds no exchange rates. Third, per transaction id, its routing facts
    (``fraudcases.services.routing.transaction_facts``), read with the amounts."""
    currency = settings.DEFAULT_CURRENCY
    on_cases = {
        row["case_id"]: row["total"]
        for row in CaseTransaction.objects.filter(case__in=cases, transaction__currency=currency)
        .values("case_id")
        .annotate(total=Sum("transaction__amount"))
    }
    amounts, facts = {}, {}
    rows = Transaction.objects.filter(id__in=transaction_ids).values_list(
        "id", "amount", "currency", *FACT_FIELDS
    )
    for txn_id, amount, txn_currency, *raw in rows:
        if txn_currency == currency:
            amounts[txn_id] = amount
        facts[txn_id] = transaction_facts(*raw)
    return on_cases, amounts, facts


def _title(hit: CaseHit) -> str:
    lead = hit.reasons[0] if hit.reasons else "high risk score"
    return f"{hit.risk_level.capitalize()} risk on {hit.account_id}: {lead}"[:200]


def _open_case(hit: CaseHit, *, priority: str, route: Route) -> tuple[Case, bool]:
    """Create the account's open case (in its queue, with its auto-assignee), or get it when
    another worker just created it."""
    try:
        with transaction.atomic():
            case = Case.objects.create(
                account_id=hit.account_id,
                trigger="risk_score",
                title=_title(hit),
                priority=priority,
                risk_score=hit.risk_score,
                risk_level=hit.risk_level,
                due_at=_sla_due(priority),
                queue=route.queue,
                assignee=route.assignment.user if route.assignment else None,
            )
        return case, True
    except IntegrityError:
        case = Case.objects.select_for_update().get(
            account_id=hit.account_id, trigger="risk_score", status__in=Case.OPEN_STATUSES
        )
        return case, False


@transaction.atomic
def cases_open_or_attach(*, hits: list[CaseHit]) -> list[Case]:
    """Open a case per account with risky transactions, or attach them to its open case.

    Idempotent: a transaction belongs to at most one case, and a re-run attaches nothing twice.
    The case's risk level is the highest of its transactions'; its priority follows from that
    level and the amount at risk (:func:`case_priority`); a hit can raise the priority of an
    open case, never lower it.
    """
    if not hits:
        return []
    open_cases = {
        c.account_id: c
        for c in Case.objects.select_for_update(of=("self",))
        .select_related("queue")  # its SLA setting, when a new transaction wakes it
        .filter(
            account_id__in=[h.account_id for h in hits],
            trigger="risk_score",
            status__in=Case.OPEN_STATUSES,
        )
    }
    already_linked = set(
        CaseTransaction.objects.filter(
            transaction_id__in=[t for h in hits for t in h.transaction_ids]
        ).values_list("transaction_id", flat=True)
    )
    on_cases, amounts, facts = _exposures(
        cases=list(open_cases.values()),
        transaction_ids=[t for h in hits for t in h.transaction_ids],
    )
    # Routing (queues, auto-assignment) only when the batch opens cases: at most four queries.
    router = Router.load() if any(h.account_id not in open_cases for h in hits) else None
    events: list[PendingEvent] = []
    links: list[CaseTransaction] = []
    touched: list[Case] = []
    for hit in hits:
        new_ids = [t for t in hit.transaction_ids if t not in already_linked]
        if not new_ids:
            continue
        added = sum((amounts.get(t, Decimal(0)) for t in new_ids), Decimal(0))
        case = open_cases.get(hit.account_id)
        created = False
        if case is None:
            exposure = added
            priority = case_priority(level=hit.risk_level, exposure=exposure)
            route = router.route(
                case_facts(
                    priority=priority,
                    risk_level=hit.risk_level,
                    risk_score=hit.risk_score,
                    amount=exposure,
                    rows=[facts[t] for t in new_ids if t in facts],
                )
            )
            case, created = _open_case(hit, priority=priority, route=route)
            if not created:
                router.release(route)
            open_cases[hit.account_id] = case
            if not created:  # another worker opened it just now: what it holds counts too
                exposure += _exposures(cases=[case], transaction_ids=[])[0].get(case.pk, Decimal(0))
        else:
            exposure = on_cases.get(case.pk, Decimal(0)) + added
        on_cases[case.pk] = exposure
        if created:
            metrics.case_opened(priority=case.priority)
            events.append(
                PendingEvent(
                    action="case.open",
                    actor_label=SYSTEM_WORKER,
                    case=case,
                    after=case.snapshot()
                    | {"transactions": new_ids, "exposure": str(exposure)}
                    | route.audit_facts(),
                    note=f"Opened by model {hit.model_version}: " + "; ".join(hit.reasons[:3]),
                )
            )
            if route.assignment is not None:
                events.append(auto_assign_event(case=case, assignment=route.assignment))
        else:
            before = case.snapshot()
            if LEVEL_RANK.get(hit.risk_level, 0) > LEVEL_RANK.get(case.risk_level, 0):
                case.risk_level = hit.risk_level
            priority = case_priority(level=case.risk_level, exposure=exposure)
            if LEVEL_RANK.get(priority, 0) > LEVEL_RANK.get(case.priority, 0):
                case.priority = priority
                case.due_at = min(case.due_at or _sla_due(priority), _sla_due(priority))
            case.risk_score = max(case.risk_score, hit.risk_score)
            case.save(
                update_fields=["priority", "risk_level", "risk_score", "due_at", "updated_at"]
            )
            events.append(
                PendingEvent(
                    action="case.attach_transactions",
                    actor_label=SYSTEM_WORKER,
                    case=case,
                    before=before,
                    after=case.snapshot() | {"transactions": new_ids, "exposure": str(exposure)},
                    note="; ".join(hit.reasons[:3]),
                )
            )
            if case.snoozed_until is not None:  # a new risky transaction wakes it (filters)
                events.append(case_wake_event(case=case, why="A new risky transaction attached."))
        links.extend(CaseTransaction(case=case, transaction_id=t) for t in new_ids)
        touched.append(case)
    CaseTransaction.objects.bulk_create(links, ignore_conflicts=True)
    if router is not None:
        router.save_cursors()
    audit_record_many(events=events)
    return touched
