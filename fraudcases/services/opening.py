"""Opening cases from scoring hits, or attaching risky transactions to the account's open case."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import IntegrityError, transaction

from .. import metrics
from ..audit import PendingEvent, audit_record_many
from ..models import Case, CaseTransaction
from ._common import LEVEL_RANK, SYSTEM_WORKER, _sla_due


@dataclass
class CaseHit:
    """Risky transactions of one account found by one scoring batch."""

    account_id: str
    transaction_ids: list[int] = field(default_factory=list)
    risk_score: int = 0
    risk_level: str = "high"
    reasons: list[str] = field(default_factory=list)
    model_version: str = ""


def _title(hit: CaseHit) -> str:
    lead = hit.reasons[0] if hit.reasons else "high risk score"
    return f"{hit.risk_level.capitalize()} risk on {hit.account_id}: {lead}"[:200]


def _open_case(hit: CaseHit) -> tuple[Case, bool]:
    """Create the account's open case, or get it when another worker just created it."""
    try:
        with transaction.atomic():
            case = Case.objects.create(
                account_id=hit.account_id,
                trigger="risk_score",
                title=_title(hit),
                priority=hit.risk_level,
                risk_score=hit.risk_score,
                risk_level=hit.risk_level,
                due_at=_sla_due(hit.risk_level),
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
    A more severe hit raises the open case's priority (never lowers it).
    """
    if not hits:
        return []
    open_cases = {
        c.account_id: c
        for c in Case.objects.select_for_update().filter(
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
    events: list[PendingEvent] = []
    links: list[CaseTransaction] = []
    touched: list[Case] = []
    for hit in hits:
        new_ids = [t for t in hit.transaction_ids if t not in already_linked]
        if not new_ids:
            continue
        case = open_cases.get(hit.account_id)
        created = False
        if case is None:
            case, created = _open_case(hit)
            open_cases[hit.account_id] = case
        if created:
            metrics.case_opened(priority=case.priority)
            events.append(
                PendingEvent(
                    action="case.open",
                    actor_label=SYSTEM_WORKER,
                    case=case,
                    after=case.snapshot() | {"transactions": new_ids},
                    note=f"Opened by model {hit.model_version}: " + "; ".join(hit.reasons[:3]),
                )
            )
        else:
            before = case.snapshot()
            if LEVEL_RANK.get(hit.risk_level, 0) > LEVEL_RANK.get(case.priority, 0):
                case.priority = hit.risk_level
                case.risk_level = hit.risk_level
                case.due_at = min(case.due_at or _sla_due(hit.risk_level), _sla_due(hit.risk_level))
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
                    after=case.snapshot() | {"transactions": new_ids},
                    note="; ".join(hit.reasons[:3]),
                )
            )
        links.extend(CaseTransaction(case=case, transaction_id=t) for t in new_ids)
        touched.append(case)
    CaseTransaction.objects.bulk_create(links, ignore_conflicts=True)
    audit_record_many(events=events)
    return touched
