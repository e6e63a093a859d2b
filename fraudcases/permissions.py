"""Roles and the one function that answers "may this user do this action on this object".

Roles are Django groups (created by a data migration). Action codes are the same strings the
audit log records. Unknown users and unknown actions are refused (fail closed).
"""

from __future__ import annotations

from typing import Any

from .errors import PermissionDeniedError

# The role names are re-exported here: ``from fraudcases.permissions import SUPERVISOR``.
from .roles import ADMIN, AUDITOR, INVESTIGATOR, ROLES, SUPERVISOR
from .workflow import (
    CASE_PERMISSIONS,
    CODE_ROLES,
    NOT_OWN_CLOSURE_ACTIONS,
    OWNED_ACTIONS,
    SUPERVISOR_STAGE_ACTIONS,
    SUPERVISOR_STAGE_STATUSES,
)

# Which roles may perform each action at all; object-level rules are in ``refusal``. The case
# actions come from the workflow table (``fraudcases.workflow``); the rest are listed here.
ACTION_ROLES: dict[str, frozenset[str]] = {
    **CODE_ROLES,
    **CASE_PERMISSIONS,
    # Auditors read everything (the supervisor overview included) and change nothing.
    "supervisor.view": frozenset({SUPERVISOR, ADMIN, AUDITOR}),
    "dashboard.view": frozenset({INVESTIGATOR, SUPERVISOR, ADMIN, AUDITOR}),
    "transaction.view": frozenset({INVESTIGATOR, SUPERVISOR, ADMIN, AUDITOR}),
    "model.view": frozenset({SUPERVISOR, ADMIN}),
    "model.promote": frozenset({ADMIN, SUPERVISOR}),
    "rule.manage": frozenset({ADMIN}),
    "audit.view": frozenset({AUDITOR, ADMIN}),
    "audit.export": frozenset({AUDITOR, ADMIN}),
    "apikey.manage": frozenset({ADMIN}),
    "user.manage": frozenset({ADMIN}),
    # The Django admin: a triage interface for case workers, administration for admins, and
    # read-only for auditors; what each role may do per model is in ``fraudcases.admin_rules``.
    "admin.site": frozenset({INVESTIGATOR, SUPERVISOR, ADMIN, AUDITOR}),
    # Reporting and quality review (insight; docs/reporting.md). Dashboard CSV for every reader
    # of the dashboard; the quality-review queue for supervisors (auditors and admins read it);
    # reviewing (agree / overturn, which reopens the case) is a supervisor's job.
    "dashboard.export": frozenset({INVESTIGATOR, SUPERVISOR, ADMIN, AUDITOR}),
    "qa.view": frozenset({SUPERVISOR, ADMIN, AUDITOR}),
    "qa.review": frozenset({SUPERVISOR}),
    # The case report PDF (audited download) for everyone who reads cases; the suspicious-
    # activity export (drafted narrative, JSON / PDF) for the people who file it.
    "case.report": frozenset({INVESTIGATOR, SUPERVISOR, ADMIN, AUDITOR}),
    "case.sar_export": frozenset({INVESTIGATOR, SUPERVISOR}),
    # Alerts (alerts; docs/alerts.md): supervisors and admins see channels, deliveries and
    # routing and may resend or send a test message; channels and rules are admins' to change.
    "alerts.view": frozenset({SUPERVISOR, ADMIN}),
    "alerts.resend": frozenset({SUPERVISOR, ADMIN}),
    "alerts.manage": frozenset({ADMIN}),
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
    "account_action.view": frozenset({INVESTIGATOR, SUPERVISOR, ADMIN, AUDITOR}),
    "account_action.request": frozenset({INVESTIGATOR, SUPERVISOR}),
    "account_action.approve": frozenset({SUPERVISOR}),
    "account_action.reject": frozenset({SUPERVISOR}),
}
ACCOUNT_ACTION_DECISIONS = frozenset({"account_action.approve", "account_action.reject"})
# Non-workflow codes checked on a case with the workflow's ownership rule (``owned``).
OWNED_CASE_CODES = OWNED_ACTIONS | {"account_action.request"}


def user_roles(user: Any) -> frozenset[str]:
    """The user's roles; superusers are admins. Cached on the user object per request."""
    if user is None or not getattr(user, "is_authenticated", False):
        return frozenset()
    if getattr(user, "is_api_client", False):
        return frozenset()
    cached = getattr(user, "_fraudcases_roles", None)
    if cached is not None:
        return cached
    roles = set(user.groups.filter(name__in=ROLES).values_list("name", flat=True))
    if user.is_superuser:
        roles.add(ADMIN)
    user._fraudcases_roles = frozenset(roles)
    return user._fraudcases_roles


def refusal(user: Any, action: str, obj: Any = None) -> str | None:
    """Why ``user`` may not perform ``action`` (on ``obj``), or ``None`` when allowed."""
    allowed = ACTION_ROLES.get(action)
    if not allowed:
        return f"Unknown action '{action}'."
    roles = user_roles(user)
    if not roles & allowed:
        return f"Your role does not allow '{action}'."
    if action in ACCOUNT_ACTION_DECISIONS and getattr(obj, "requested_by_id", None) == user.pk:
        return "Four-eyes rule: a different supervisor must decide on your own request."
    on_case = action.startswith("case.") or action in OWNED_CASE_CODES
    if obj is None or not on_case or not hasattr(obj, "assignee_id"):
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


def user_can(user: Any, action: str, obj: Any = None) -> bool:
    """True when ``user`` may perform ``action`` (on ``obj`` where given)."""
    return refusal(user, action, obj) is None


def ensure_allowed(user: Any, action: str, obj: Any = None) -> None:
    """Raise :class:`PermissionDeniedError` unless ``user_can``."""
    reason = refusal(user, action, obj)
    if reason is not None:
        raise PermissionDeniedError(reason)
