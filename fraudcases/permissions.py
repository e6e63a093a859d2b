"""The case domain's actions in the one permission table (``core.permissions``).

The case actions' roles come from the workflow table (``fraudcases.workflow``); the workspace's
other actions are listed here; :func:`case_refusal` and :func:`account_action_refusal` are the
object-level rules for ``case.*`` and ``account_action.*`` codes. :func:`register` runs once at
start-up (``FraudcasesConfig.ready``).
"""

from __future__ import annotations

from typing import Any

from core.permissions import ADMIN, AUDITOR, INVESTIGATOR, SUPERVISOR, actions_register

from .workflow import (
    CASE_PERMISSIONS,
    CODE_ROLES,
    NOT_OWN_CLOSURE_ACTIONS,
    OWNED_ACTIONS,
    SUPERVISOR_STAGE_ACTIONS,
    SUPERVISOR_STAGE_STATUSES,
)

READERS = frozenset({INVESTIGATOR, SUPERVISOR, ADMIN, AUDITOR})

CASE_ACTION_ROLES: dict[str, frozenset[str]] = {
    **CODE_ROLES,
    **CASE_PERMISSIONS,
    # Auditors read everything (the supervisor overview included) and change nothing.
    "supervisor.view": frozenset({SUPERVISOR, ADMIN, AUDITOR}),
    "dashboard.view": READERS,
    "transaction.view": READERS,
    # Reporting and quality review (insight; docs/reporting.md). Dashboard CSV for every reader
    # of the dashboard; the quality-review queue for supervisors (auditors and admins read it);
    # reviewing (agree / overturn, which reopens the case) is a supervisor's job.
    "dashboard.export": READERS,
    "qa.view": frozenset({SUPERVISOR, ADMIN, AUDITOR}),
    "qa.review": frozenset({SUPERVISOR}),
    # The case report PDF (audited download) for everyone who reads cases; the suspicious-
    # activity export (drafted narrative, JSON / PDF) for the people who file it.
    "case.report": READERS,
    "case.sar_export": frozenset({INVESTIGATOR, SUPERVISOR}),
    # Routing (fraudcases/services/routing.py): admins define queues; admins and supervisors
    # put people in them; a person sets their own off-duty flag, supervisors and admins anyone's
    # (and absence).
    "queue.manage": frozenset({ADMIN}),
    "queue.members": frozenset({SUPERVISOR, ADMIN}),
    "duty.set_own": frozenset({INVESTIGATOR, SUPERVISOR}),
    "duty.set_any": frozenset({SUPERVISOR, ADMIN}),
    # Account actions to core banking (fraudcases/services/account_actions.py): case workers
    # request (investigators on their own or unassigned cases), a supervisor other than the
    # requester approves or rejects, everyone who reads cases sees them. Admins administer.
    "account_action.view": READERS,
    "account_action.request": frozenset({INVESTIGATOR, SUPERVISOR}),
    "account_action.approve": frozenset({SUPERVISOR}),
    "account_action.reject": frozenset({SUPERVISOR}),
}
ACCOUNT_ACTION_DECISIONS = frozenset({"account_action.approve", "account_action.reject"})
# Non-workflow codes checked on a case with the workflow's ownership rule (``owned``).
OWNED_CASE_CODES = OWNED_ACTIONS | {"account_action.request"}


def case_refusal(user: Any, roles: frozenset[str], action: str, obj: Any) -> str | None:
    """The object-level rule of a ``case.*`` action on a case: ownership, the supervisor stage
    and the four-eyes rule. ``None`` when allowed (the role was checked before)."""
    if not hasattr(obj, "assignee_id"):
        return None
    is_supervisor = SUPERVISOR in roles
    # Investigators take or release their own work only (the target is checked in services).
    if (
        action == "case.assign"
        and not (is_supervisor or ADMIN in roles)
        and obj.assignee_id not in (None, user.pk)
    ):
        return "This case is assigned to someone else; ask a supervisor to reassign it."
    if action in OWNED_CASE_CODES and not is_supervisor:
        if obj.assignee_id not in (None, user.pk):
            return "This case is assigned to someone else."
        if action in SUPERVISOR_STAGE_ACTIONS and obj.status in SUPERVISOR_STAGE_STATUSES:
            return "This case is with the supervisors now."
    requester = getattr(obj, "closure_requested_by_id", None)
    if action in NOT_OWN_CLOSURE_ACTIONS and requester is not None and requester == user.pk:
        return "Four-eyes rule: a different supervisor must approve your own closure."
    return None


def account_action_refusal(user: Any, roles: frozenset[str], action: str, obj: Any) -> str | None:
    """The object-level rule of an ``account_action.*`` code: nobody decides on their own
    request; a request on a case follows the case's ownership rule."""
    if action in ACCOUNT_ACTION_DECISIONS and getattr(obj, "requested_by_id", None) == user.pk:
        return "Four-eyes rule: a different supervisor must decide on your own request."
    if action in OWNED_CASE_CODES:
        return case_refusal(user, roles, action, obj)
    return None


def register() -> None:
    """Add the case domain's actions and their object rules to the permission table."""
    actions_register(CASE_ACTION_ROLES, object_rule=("case.", case_refusal))
    actions_register({}, object_rule=("account_action.", account_action_refusal))
