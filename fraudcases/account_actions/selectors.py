"""Account action reads, restricted by role (fail closed)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db.models import QuerySet

from core.permissions import user_can

from ..models import AccountAction, Case
from ..selectors import MAX_ID
from ..services.account_actions import approval_required_kinds, case_merchants


def account_actions_for_case(*, user, case: Case) -> QuerySet[AccountAction]:
    """The case's account actions, newest first, for those who may see them."""
    if not user_can(user, "account_action.view"):
        return AccountAction.objects.none()
    return case.account_actions.select_related("requested_by", "decided_by")


def account_action_get(*, user, case: Case, action_id: int) -> AccountAction | None:
    """One account action of the case, if the user may see it."""
    if not 0 < action_id <= MAX_ID:
        return None
    return account_actions_for_case(user=user, case=case).filter(pk=action_id).first()


def account_action_for_client(*, action_id: int) -> AccountAction | None:
    """One account action for core banking's result callback (an API client, not a person:
    the service checks the key and the action's idempotency key)."""
    if not 0 < action_id <= MAX_ID:
        return None
    return AccountAction.objects.filter(pk=action_id).first()


def account_actions_pending(*, user) -> QuerySet[AccountAction]:
    """Account actions waiting for a supervisor's approval, oldest first (the supervisor page)."""
    if not user_can(user, "account_action.view"):
        return AccountAction.objects.none()
    return (
        AccountAction.objects.filter(status=AccountAction.Status.AWAITING_APPROVAL)
        .select_related("case", "requested_by")
        .order_by("requested_at", "id")
    )


@dataclass
class ActionRow:
    """One action on the case panel, with what this user may do about it."""

    action: AccountAction
    can_decide: bool
    own_request: bool


def account_action_panel(*, user, case: Case) -> dict[str, Any]:
    """Everything the case page's account-action panel shows this user: the actions with their
    state and whether the user may approve / reject each, and whether (and what) they may
    request: the kinds, which need approval, and the case's merchants for an allow-list."""
    rows = []
    for action in account_actions_for_case(user=user, case=case):
        awaiting = action.status == AccountAction.Status.AWAITING_APPROVAL
        rows.append(
            ActionRow(
                action=action,
                can_decide=awaiting and user_can(user, "account_action.approve", action),
                own_request=action.requested_by_id == user.pk,
            )
        )
    try:
        needs = approval_required_kinds()
    except ImproperlyConfigured:  # requests are refused (and logged) until it is fixed
        needs = frozenset(AccountAction.Kind.values)
    return {
        "rows": rows,
        "can_view": user_can(user, "account_action.view"),
        "can_request": user_can(user, "account_action.request", case),
        "is_approver": user_can(user, "account_action.approve"),
        "kinds": [
            {"value": k.value, "label": k.label, "needs_approval": k.value in needs}
            for k in AccountAction.Kind
        ],
        "merchants": case_merchants(case),
    }
