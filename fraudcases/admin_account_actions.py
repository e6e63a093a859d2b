"""Account actions in the Django admin: read-only for everyone who reads cases. Requests,
approvals and results go through the case page, the API and core banking's callback (all
audited services); the admin only shows them."""

from __future__ import annotations

import itertools

from django.contrib import admin
from django.contrib.auth import get_user_model

from core.admin_rules import READ_ALL, ModelRule, RoleModelAdmin, admin_rule

from .models import AccountAction, Case

_walk_ids = itertools.count(1)


@admin.register(AccountAction)
class AccountActionAdmin(RoleModelAdmin):
    """Read-only: the state moves only through ``fraudcases.services.account_actions``."""

    list_display = ("id", "requested_at", "kind", "account_id", "merchant_id", "status", "case")
    list_filter = ("status", "kind")
    search_fields = ("account_id", "merchant_id", "=idempotency_key", "=case__id")
    list_select_related = ("case",)
    raw_id_fields = ("case",)

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]


def _example(action: str | None = None) -> AccountAction:
    """A requested action on a fresh case (the admin walk's sample)."""
    n = next(_walk_ids)
    requester = get_user_model().objects.create_user(f"acct-walk-{n}-{Case.objects.count()}")
    case = Case.objects.create(account_id=f"acct-walk-{n}", title="walk", trigger=f"walk-{n}")
    return AccountAction.objects.create(
        case=case,
        kind=AccountAction.Kind.BLOCK_CARD,
        account_id=case.account_id,
        reason="walk",
        status=AccountAction.Status.AWAITING_APPROVAL,
        requested_by=requester,
        needs_approval=True,
    )


admin_rule(
    "fraudcases.accountaction",
    ModelRule(view=READ_ALL, example=_example, change_data=lambda a: {"status": "confirmed"}),
)
