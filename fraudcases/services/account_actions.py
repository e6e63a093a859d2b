"""Account actions: from a case, ask core banking to block the card, hold payments, or
allow-list a merchant for the account — with a supervisor's approval where configured.

Life of an action (every step an audit event on the case):

- ``account_action.request`` (a case worker): ``awaiting_approval`` when its kind is named by
  ``ACCOUNT_ACTIONS_APPROVAL_REQUIRED``; otherwise approved by that policy in the same
  transaction (``account_action.approve`` by ``system:account-action-policy``);
- ``account_action.approve`` / ``account_action.reject`` (a supervisor other than the
  requester). The approval event is the outbox entry: the alerts app sends it to core banking
  as the signed webhook event ``account_action.approved`` (alerts.services.account_actions);
- ``account_action.deliver`` / ``account_action.delivery_failed`` (``system:alerts``): a webhook
  delivery reached core banking (2xx), or none can (dead, or no channel subscribes);
- ``account_action.result`` (core banking, with its API key): carried out or failed.

Only this module writes :class:`~fraudcases.models.AccountAction` rows.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.audit import audit_record
from core.errors import ApplicationError, ConflictError, PermissionDeniedError
from core.permissions import ensure_allowed

from ..models import AccountAction, Case
from ._common import _required_text

User = AbstractBaseUser
logger = logging.getLogger(__name__)
K = AccountAction.Kind
S = AccountAction.Status
SYSTEM_POLICY = "system:account-action-policy"
OUTCOMES = {"done": S.CONFIRMED, "failed": S.FAILED}
REFERENCE_MAX = 100
DETAIL_MAX = 2000


def approval_required_kinds() -> frozenset[str]:
    """The kinds ``ACCOUNT_ACTIONS_APPROVAL_REQUIRED`` names; an unknown name is a
    configuration error (never silently "no approval needed")."""
    configured = frozenset(settings.ACCOUNT_ACTIONS_APPROVAL_REQUIRED)
    unknown = sorted(configured - set(K.values))
    if unknown:
        raise ImproperlyConfigured(
            f"ACCOUNT_ACTIONS_APPROVAL_REQUIRED names unknown kind(s) {', '.join(unknown)}; "
            f"use {', '.join(K.values)}."
        )
    return configured


@checks.register()
def check_approval_policy(**kwargs) -> list[checks.Error]:
    """``manage.py check`` (and start-up): the approval policy names only known kinds."""
    try:
        approval_required_kinds()
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id="fraudcases.E101")]
    return []


def case_merchants(case: Case) -> list[str]:
    """The merchants of the case's transactions (what may be allow-listed from it)."""
    values = case.transactions.exclude(merchant_id="").values_list("merchant_id", flat=True)
    return sorted({m for m in values if m})


def _clean_request(case: Case, kind: Any, merchant_id: Any) -> tuple[str, str]:
    if kind not in K.values:
        raise ApplicationError(
            f"Unknown account action {kind!r}.", {"kind": [f"One of: {', '.join(K.values)}."]}
        )
    merchant = str(merchant_id or "").strip()
    if kind != K.ALLOW_MERCHANT:
        if merchant:
            raise ApplicationError(
                "Only an allow-list names a merchant.",
                {"merchant_id": [f"Leave empty for {K(kind).label.lower()}."]},
            )
        return kind, ""
    merchants = case_merchants(case)
    if not merchant:
        raise ApplicationError(
            "Name the merchant to allow-list.",
            {"merchant_id": [f"One of this case's merchants: {', '.join(merchants) or 'none'}."]},
        )
    if merchant not in merchants:
        raise ApplicationError(
            f"Merchant {merchant[:100]!r} is not on case #{case.pk}.",
            {"merchant_id": [f"One of this case's merchants: {', '.join(merchants) or 'none'}."]},
        )
    return kind, merchant


def _audit(
    action: AccountAction,
    *,
    code: str,
    before: dict | None,
    actor: Any = None,
    actor_label: str = "",
    note: str = "",
    extra: dict | None = None,
) -> None:
    audit_record(
        action=code,
        actor=actor,
        actor_label=actor_label,
        obj=action,
        case=action.case,
        before=before,
        after=action.snapshot() | (extra or {}),
        note=note,
    )


def _approve(action: AccountAction, *, by: User | None, note: str) -> None:
    """Approve (in memory + save + audit): the audit event is what the alerts app sends."""
    before = action.snapshot()
    action.status = S.APPROVED
    action.decided_by = by
    action.decided_at = timezone.now() if by is not None else None
    action.decision_note = note if by is not None else ""
    action.save(update_fields=["status", "decided_by", "decided_at", "decision_note", "updated_at"])
    _audit(
        action,
        code="account_action.approve",
        before=before,
        actor=by,
        actor_label="" if by is not None else SYSTEM_POLICY,
        note=note,
        extra={"approval": "supervisor" if by is not None else "not_required"},
    )


@transaction.atomic
def account_action_request(
    *, case: Case, actor: User, kind: str, reason: str, merchant_id: str = ""
) -> AccountAction:
    """Ask core banking to act on the case's account (``kind``: ``block_card``,
    ``hold_payments``, ``allow_merchant`` with one of the case's merchants). Waits for a
    supervisor's approval when the kind needs one, else is approved (and sent) at once.
    One in-flight action per account, kind and merchant: a second is a conflict."""
    ensure_allowed(actor, "account_action.request", case)
    kind, merchant = _clean_request(case, kind, merchant_id)
    reason = _required_text(reason, "reason", "A reason")
    try:
        needs_approval = kind in approval_required_kinds()
    except ImproperlyConfigured as exc:  # fail closed: nothing is stored, nothing is sent
        logger.error("Account action refused: %s", exc)
        raise ConflictError(
            f"Account actions are refused until an admin fixes this: {exc}"
        ) from exc
    try:
        with transaction.atomic():
            action = AccountAction.objects.create(
                case=case,
                kind=kind,
                account_id=case.account_id,
                merchant_id=merchant,
                reason=reason,
                status=S.AWAITING_APPROVAL,
                requested_by=actor,
                needs_approval=needs_approval,
            )
    except IntegrityError:
        raise ConflictError(
            f"{K(kind).label}{' ' + merchant if merchant else ''} is already requested for "
            f"account {case.account_id} and not yet with core banking."
        ) from None
    _audit(action, code="account_action.request", before=None, actor=actor, note=reason)
    if not needs_approval:
        _approve(
            action,
            by=None,
            note=f"{action.get_kind_display()} needs no approval "
            "(ACCOUNT_ACTIONS_APPROVAL_REQUIRED).",
        )
    return action


def _locked(action: AccountAction) -> AccountAction:
    return (
        AccountAction.objects.select_for_update(of=("self",))
        .select_related("case", "requested_by", "decided_by")
        .get(pk=action.pk)
    )


def _awaiting(action: AccountAction, actor: User, code: str) -> AccountAction:
    action = _locked(action)
    ensure_allowed(actor, code, action)
    if action.status != S.AWAITING_APPROVAL:
        raise ConflictError(
            f"This account action is {action.get_status_display().lower()}; only one awaiting "
            "approval can be approved or rejected."
        )
    return action


@transaction.atomic
def account_action_approve(*, action: AccountAction, actor: User, note: str = "") -> AccountAction:
    """A supervisor other than the requester approves: the action goes to core banking."""
    action = _awaiting(action, actor, "account_action.approve")
    _approve(action, by=actor, note=(note or "").strip()[:10_000])
    return action


@transaction.atomic
def account_action_reject(*, action: AccountAction, actor: User, note: str) -> AccountAction:
    """A supervisor other than the requester rejects, saying why: it is never sent."""
    action = _awaiting(action, actor, "account_action.reject")
    note = _required_text(note, "note", "A reason for the rejection")
    before = action.snapshot()
    action.status = S.REJECTED
    action.decided_by = actor
    action.decided_at = timezone.now()
    action.decision_note = note
    action.save(update_fields=["status", "decided_by", "decided_at", "decision_note", "updated_at"])
    _audit(action, code="account_action.reject", before=before, actor=actor, note=note)
    return action


def _system_locked(action_id: int) -> AccountAction | None:
    return (
        AccountAction.objects.select_for_update(of=("self",))
        .select_related("case", "decided_by")
        .filter(pk=action_id)
        .first()
    )


@transaction.atomic
def account_action_delivered(
    *, action_id: int, delivery_ref: str, channel: str, actor_label: str
) -> AccountAction | None:
    """A webhook delivery of the action reached core banking (answered 2xx). From
    ``approved`` (or ``failed`` by a dead delivery that was resent) to ``delivered``; once core
    banking has answered, or already delivered, nothing changes."""
    action = _system_locked(action_id)
    if action is None or action.status not in (S.APPROVED, S.FAILED) or action.result_at:
        return action
    before = action.snapshot()
    action.status = S.DELIVERED
    action.delivered_at = timezone.now()
    action.delivery_ref = delivery_ref[:64]
    action.failure_reason = ""
    action.save(
        update_fields=["status", "delivered_at", "delivery_ref", "failure_reason", "updated_at"]
    )
    _audit(
        action,
        code="account_action.deliver",
        before=before,
        actor_label=actor_label,
        note=f"Delivered to core banking through channel {channel}.",
    )
    return action


@transaction.atomic
def account_action_delivery_failed(
    *, action_id: int, reason: str, actor_label: str
) -> AccountAction | None:
    """No delivery of the approved action can reach core banking (dead, or no channel
    subscribes): ``approved`` → ``failed`` with the reason. A resend that succeeds later still
    moves it to ``delivered``."""
    action = _system_locked(action_id)
    if action is None or action.status != S.APPROVED:
        return action
    before = action.snapshot()
    action.status = S.FAILED
    action.failure_reason = reason[:DETAIL_MAX]
    action.save(update_fields=["status", "failure_reason", "updated_at"])
    _audit(
        action,
        code="account_action.delivery_failed",
        before=before,
        actor_label=actor_label,
        note=action.failure_reason,
    )
    return action


def _result_allowed(client: Any) -> None:
    if not getattr(client, "is_api_client", False):
        raise PermissionDeniedError("Results come from core banking's API key.")
    allowed = settings.ACCOUNT_ACTIONS_RESULT_API_KEYS
    if allowed and client.name not in allowed:
        raise PermissionDeniedError(
            f"API key '{client.name}' may not report account action results "
            "(ACCOUNT_ACTIONS_RESULT_API_KEYS)."
        )


@transaction.atomic
def account_action_result(
    *,
    action: AccountAction,
    client: Any,
    outcome: str,
    idempotency_key: str,
    reference: str = "",
    detail: str = "",
) -> tuple[AccountAction, bool]:
    """Core banking reports the outcome (``done`` or ``failed``) of an action it was sent,
    naming its idempotency key. Idempotent: the same outcome again changes nothing; another
    outcome after the first is a conflict. Returns (action, whether it changed)."""
    _result_allowed(client)
    action = _locked(action)
    if str(idempotency_key) != str(action.idempotency_key):
        raise ApplicationError(
            "The idempotency key does not match this account action.",
            {"idempotency_key": ["Send the idempotency_key of the webhook event."]},
        )
    if outcome not in OUTCOMES:
        raise ApplicationError(
            f"Unknown outcome {outcome!r}.", {"outcome": [f"One of: {', '.join(OUTCOMES)}."]}
        )
    status = OUTCOMES[outcome]
    if action.result_at is not None:
        if action.status == status:
            return action, False
        raise ConflictError(
            f"Core banking already reported this action as {action.get_status_display().lower()}."
        )
    if action.status not in (S.APPROVED, S.DELIVERED, S.FAILED):
        raise ConflictError(
            f"This account action is {action.get_status_display().lower()}: it was never sent."
        )
    before = action.snapshot()
    detail = (detail or "").strip()[:DETAIL_MAX]
    action.status = status
    action.result_at = timezone.now()
    action.result_reference = (reference or "").strip()[:REFERENCE_MAX]
    action.result_detail = detail
    action.failure_reason = f"Core banking: {detail or 'failed'}" if status == S.FAILED else ""
    action.save(
        update_fields=[
            "status",
            "result_at",
            "result_reference",
            "result_detail",
            "failure_reason",
            "updated_at",
        ]
    )
    _audit(
        action,
        code="account_action.result",
        before=before,
        actor=client,
        note=detail,
        extra={"outcome": outcome},
    )
    return action, True
