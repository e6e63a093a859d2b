"""Writing and verifying the tamper-evident audit log."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.dispatch import Signal
from django.utils import timezone

from .middleware import current_client_ip, current_request_id
from .models import AuditEvent, Case

logger = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64
# Sent after the transaction that appended events commits, with ``event_ids`` (a list of ints).
# The audit log is the outbox of case events: subscribers (alert delivery) react to committed
# events only, and a periodic sweep over ids catches anything a receiver missed.
audit_events_committed = Signal()
_CARD_NUMBER = re.compile(r"\b(\d[ -]?){12,18}\d\b")
_SECRET_KEYS = re.compile(r"pass|secret|token|api_?key|authorization|cvv|pin$", re.IGNORECASE)
# Arbitrary constant naming the audit chain's advisory lock on PostgreSQL.
_AUDIT_LOCK_ID = 7_413_001


def mask(value: Any, *, key: str = "") -> Any:
    """Mask card numbers anywhere and whole values under secret-looking keys."""
    if key and _SECRET_KEYS.search(key):
        return "***" if value not in (None, "") else value
    if isinstance(value, dict):
        return {k: mask(v, key=str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask(v) for v in value]
    if isinstance(value, str):
        return _CARD_NUMBER.sub(_mask_card_number, value)
    return value


def _luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _mask_card_number(match: re.Match) -> str:
    """Mask a run of 13-19 digits that passes the Luhn check (as every card number does);
    other long numbers (timestamps, model versions, references) stay readable."""
    text = match.group(0)
    digits = "".join(c for c in text if c.isdigit())
    return _mask_digits(text) if _luhn_valid(digits) else text


def _mask_digits(text: str) -> str:
    digits = [c for c in text if c.isdigit()]
    keep = "".join(digits[-4:])
    return "*" * (len(digits) - 4) + keep


@dataclass
class PendingEvent:
    """An audit event to be written; see :func:`audit_record` for the fields."""

    action: str
    actor: Any = None
    actor_label: str = ""
    obj: Any = None
    case: Case | None = None
    before: dict | None = None
    after: dict | None = None
    note: str = ""
    request_id: str | None = None
    ip_address: str | None = None
    extra: dict = field(default_factory=dict)


def _lock_chain() -> None:
    """Serialise appends so each row links to the true previous one.

    On SQLite every write transaction is already exclusive (IMMEDIATE mode in settings).
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_AUDIT_LOCK_ID])


def _actor_label(actor: Any, fallback: str) -> str:
    if actor is None:
        return fallback or "system"
    if getattr(actor, "is_api_client", False):
        return f"api:{actor.name}"
    return f"user:{actor.get_username()}"


@transaction.atomic
def audit_record_many(*, events: Iterable[PendingEvent]) -> list[AuditEvent]:
    """Append events to the chain in order, in the caller's transaction."""
    events = list(events)
    if not events:
        return []
    _lock_chain()
    last = AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first()
    prev_hash = last or GENESIS_HASH
    now = timezone.now()
    rows = []
    for ev in events:
        obj = ev.obj if ev.obj is not None else ev.case
        actor_user = (
            ev.actor
            if getattr(ev.actor, "pk", None) and not getattr(ev.actor, "is_api_client", False)
            else None
        )
        row = AuditEvent(
            created_at=now,
            actor=actor_user,
            actor_label=ev.actor_label or _actor_label(ev.actor, ""),
            action=ev.action,
            object_type=obj._meta.label_lower if obj is not None else "",
            object_id=str(obj.pk) if obj is not None else "",
            case=ev.case if ev.case is not None else (obj if isinstance(obj, Case) else None),
            before=mask(ev.before) if ev.before is not None else None,
            after=mask(ev.after) if ev.after is not None else None,
            note=mask(ev.note or ""),
            request_id=ev.request_id or current_request_id.get() or "",
            ip_address=ev.ip_address or current_client_ip.get(),
            prev_hash=prev_hash,
        )
        row.hash = row.compute_hash()
        prev_hash = row.hash
        rows.append(row)
    created = AuditEvent.objects.bulk_create(rows)
    event_ids = [row.pk for row in created if row.pk is not None]
    transaction.on_commit(lambda: _notify_committed(event_ids))
    return created


def _notify_committed(event_ids: list[int]) -> None:
    """Tell subscribers about committed events; a failing receiver never breaks the writer."""
    for receiver, result in audit_events_committed.send_robust(
        sender=AuditEvent, event_ids=event_ids
    ):
        if isinstance(result, Exception):
            logger.error("Audit subscriber %r failed: %s", receiver, result, exc_info=result)


def audit_record(
    *,
    action: str,
    actor: Any = None,
    actor_label: str = "",
    obj: Any = None,
    case: Case | None = None,
    before: dict | None = None,
    after: dict | None = None,
    note: str = "",
    request_id: str | None = None,
    ip_address: str | None = None,
) -> AuditEvent:
    """Append one audit event (``action`` is a namespaced code such as ``case.escalate``)."""
    return audit_record_many(
        events=[
            PendingEvent(
                action=action,
                actor=actor,
                actor_label=actor_label,
                obj=obj,
                case=case,
                before=before,
                after=after,
                note=note,
                request_id=request_id,
                ip_address=ip_address,
            )
        ]
    )[0]


@dataclass
class ChainReport:
    """Outcome of :func:`audit_verify_chain`."""

    checked: int
    ok: bool
    broken_id: int | None = None
    reason: str = ""


def audit_verify_chain(*, chunk_size: int = 2000) -> ChainReport:
    """Walk the chain in id order; report the first row whose link or content does not match."""
    prev_hash = GENESIS_HASH
    checked = 0
    last_id = 0
    while True:
        rows = list(AuditEvent.objects.filter(id__gt=last_id).order_by("id")[:chunk_size])
        if not rows:
            return ChainReport(checked=checked, ok=True)
        for row in rows:
            if row.prev_hash != prev_hash:
                return ChainReport(
                    checked=checked,
                    ok=False,
                    broken_id=row.id,
                    reason="previous-hash link does not match (a row before it was removed or "
                    "changed, or this one was inserted out of band)",
                )
            if row.compute_hash() != row.hash:
                return ChainReport(
                    checked=checked,
                    ok=False,
                    broken_id=row.id,
                    reason="content does not match its stored hash (the row was altered)",
                )
            prev_hash = row.hash
            checked += 1
            last_id = row.id
