"""Merge two cases about the same fraud, and move one transaction to another case.

Merging case B into A moves B's transactions, notes, attachments and tags to A and closes B as
``merged`` with a link to A (``Case.merged_into``). ``merged`` is not a training label
(``scoring.services.labels.DISPOSITION_LABELS`` does not name it): B holds no transactions
after the move, and A's are labelled when A is closed. Both cases get a note and a
``case.merge`` audit event naming what moved. Across accounts only a supervisor merges.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from core.errors import ApplicationError
from core.permissions import SUPERVISOR, ensure_allowed, user_roles

from ..models import Attachment, Case, CaseTransaction, Note
from ._common import LEVEL_RANK, _add_note, _required_text
from .transitions import _audit_change, _begin, _ensure_status

User = AbstractBaseUser
S = Case.Status


def _target(*, source: Case, into: int | Case | None, actor, action: str) -> Case:
    """The other case, locked, checked: exists, is another case, open, and the actor may act
    on it; across accounts only supervisors."""
    into_id = into.pk if isinstance(into, Case) else into
    if not isinstance(into_id, int) or isinstance(into_id, bool):
        raise ApplicationError("Name the case to move to.", {"into": ["A case number."]})
    if into_id == source.pk:
        raise ApplicationError("A case cannot be merged into itself.", {"into": ["Another case."]})
    target = (
        Case.objects.select_for_update(of=("self",))
        .select_related("assignee")
        .filter(pk=into_id)
        .first()
    )
    if target is None:
        raise ApplicationError(f"There is no case #{into_id}.", {"into": ["No such case."]})
    ensure_allowed(actor, action, target)
    _ensure_status(target, action)
    if target.account_id != source.account_id and SUPERVISOR not in user_roles(actor):
        raise ApplicationError(
            f"Case #{target.pk} is about account {target.account_id}, not {source.account_id}: "
            "only a supervisor moves evidence across accounts.",
            {"into": ["Another account: a supervisor's decision."]},
        )
    return target


def _raise_target(target: Case, source: Case) -> None:
    """The target takes the more severe priority, the higher risk and the earlier due time."""
    if LEVEL_RANK.get(source.priority, 0) > LEVEL_RANK.get(target.priority, 0):
        target.priority = source.priority
        target.risk_level = source.risk_level
    target.risk_score = max(target.risk_score, source.risk_score)
    dues = [d for d in (target.due_at, source.due_at) if d is not None]
    target.due_at = min(dues) if dues else None
    target.save(update_fields=["priority", "risk_level", "risk_score", "due_at", "updated_at"])


@transaction.atomic
def case_merge(*, case: Case, actor: User, into: int | Case, note: str) -> Case:
    """Merge ``case`` into the case ``into``; returns the target. See the module docstring."""
    note = _required_text(note, "note", "A note on why the cases are merged")
    source, source_before = _begin(case=case, actor=actor, action="case.merge")
    target = _target(source=source, into=into, actor=actor, action="case.merge")
    target_before = target.snapshot()
    txn_ids = list(source.case_transactions.values_list("transaction_id", flat=True))
    note_ids = list(source.notes.values_list("id", flat=True))
    attachment_ids = list(source.attachments.values_list("id", flat=True))
    tags = list(source.tags.all())
    CaseTransaction.objects.filter(case=source).update(case=target)
    Note.objects.filter(pk__in=note_ids).update(case=target)
    Attachment.objects.filter(pk__in=attachment_ids).update(case=target)
    target.tags.add(*tags)
    source.tags.clear()
    _raise_target(target, source)
    now = timezone.now()
    source.status = S.CLOSED
    source.disposition = Case.Disposition.MERGED
    source.proposed_disposition = ""
    source.closure_requested_by = None
    source.merged_into = target
    source.closed_at = now
    source.closed_by = actor
    source.snoozed_until = source.snoozed_at = source.snoozed_by = None
    source.snooze_reason = ""
    source.save()
    moved = {
        "transactions": txn_ids,
        "notes": note_ids,
        "attachments": attachment_ids,
        "tags": sorted(t.name for t in tags),
    }
    _add_note(case=source, actor=actor, body=f"**Merged into case #{target.pk}:** {note}")
    _add_note(case=target, actor=actor, body=f"**Case #{source.pk} merged into this one:** {note}")
    _audit_change(
        case=source,
        actor=actor,
        action="case.merge",
        before=source_before,
        note=note,
        extra={"merged_into": target.pk, "moved": moved},
    )
    _audit_change(
        case=target,
        actor=actor,
        action="case.merge",
        before=target_before,
        note=note,
        extra={"merged_from": source.pk, "moved": moved},
    )
    return target


@transaction.atomic
def case_transaction_move(
    *, case: Case, actor: User, transaction_id: str, into: int | Case, note: str
) -> Case:
    """Move one of the case's transactions (by external id) to the case ``into``; audited on
    both. Returns the case it came from."""
    note = _required_text(note, "note", "A note on why the transaction moves")
    source, source_before = _begin(case=case, actor=actor, action="case.move_transaction")
    target = _target(source=source, into=into, actor=actor, action="case.move_transaction")
    external_id = (transaction_id or "").strip()
    link = (
        CaseTransaction.objects.select_for_update()
        .filter(case=source, transaction__external_id=external_id)
        .first()
    )
    if link is None:
        raise ApplicationError(
            f"Case #{source.pk} has no transaction '{external_id}'.",
            {"transaction_id": ["Not a transaction of this case."]},
        )
    target_before = target.snapshot()
    link.case = target
    link.save(update_fields=["case"])
    moved = {"transaction": external_id, "transaction_pk": link.transaction_id}
    _add_note(
        case=source,
        actor=actor,
        body=f"**Transaction {external_id} moved to case #{target.pk}:** {note}",
    )
    _add_note(
        case=target,
        actor=actor,
        body=f"**Transaction {external_id} moved here from case #{source.pk}:** {note}",
    )
    _audit_change(
        case=source,
        actor=actor,
        action="case.move_transaction",
        before=source_before,
        note=note,
        extra={"to_case": target.pk, "moved": moved},
    )
    _audit_change(
        case=target,
        actor=actor,
        action="case.move_transaction",
        before=target_before,
        note=note,
        extra={"from_case": source.pk, "moved": moved},
    )
    return source
