"""Roles and the one function that answers "may this user do this action on this object".

Roles are Django groups (created by a data migration). Action codes are the same strings the
audit log records. Unknown users and unknown actions are refused (fail closed).
"""

from __future__ import annotations

from typing import Any

from .errors import PermissionDeniedError

INVESTIGATOR = "investigator"
SUPERVISOR = "supervisor"
ADMIN = "admin"
AUDITOR = "auditor"
ROLES = (INVESTIGATOR, SUPERVISOR, ADMIN, AUDITOR)

# Which roles may perform each action at all; object-level rules are in ``user_can``.
ACTION_ROLES: dict[str, frozenset[str]] = {
    "case.view": frozenset({INVESTIGATOR, SUPERVISOR, ADMIN, AUDITOR}),
    "case.claim": frozenset({INVESTIGATOR, SUPERVISOR}),
    "case.assign": frozenset({INVESTIGATOR, SUPERVISOR, ADMIN}),
    "case.start_review": frozenset({INVESTIGATOR, SUPERVISOR}),
    "case.note": frozenset({INVESTIGATOR, SUPERVISOR}),
    "case.tag": frozenset({INVESTIGATOR, SUPERVISOR}),
    "case.attach": frozenset({INVESTIGATOR, SUPERVISOR}),
    "case.attachment_download": frozenset({INVESTIGATOR, SUPERVISOR, ADMIN, AUDITOR}),
    "case.escalate": frozenset({INVESTIGATOR, SUPERVISOR}),
    "case.close": frozenset({INVESTIGATOR, SUPERVISOR}),
    "case.approve": frozenset({SUPERVISOR}),
    "case.reject_closure": frozenset({SUPERVISOR}),
    "case.reopen": frozenset({SUPERVISOR}),
    "case.bulk": frozenset({INVESTIGATOR, SUPERVISOR}),
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
    "admin.site": frozenset({ADMIN}),
}

# Case actions an investigator may only take on a case that is theirs (or nobody's yet);
# supervisors take them on any case.
_OWNED_CASE_ACTIONS = frozenset(
    {
        "case.start_review",
        "case.note",
        "case.tag",
        "case.attach",
        "case.escalate",
        "case.close",
    }
)
# Once escalated or waiting for approval, a case is in supervisors' hands (notes aside).
_SUPERVISOR_STAGE_ACTIONS = frozenset({"case.close", "case.tag", "case.attach"})


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
    if obj is None or not action.startswith("case.") or not hasattr(obj, "assignee_id"):
        return None
    is_supervisor = SUPERVISOR in roles
    # Investigators take or release their own work only (the target is checked in services).
    if (
        action == "case.assign"
        and not (is_supervisor or ADMIN in roles)
        and obj.assignee_id not in (None, user.pk)
    ):
        return "This case is assigned to someone else; ask a supervisor to reassign it."
    if action in _OWNED_CASE_ACTIONS and not is_supervisor:
        if obj.assignee_id not in (None, user.pk):
            return "This case is assigned to someone else."
        if action in _SUPERVISOR_STAGE_ACTIONS and obj.status in ("escalated", "pending_approval"):
            return "This case is with the supervisors now."
    closer = getattr(obj, "closure_requested_by_id", None)
    if action == "case.approve" and closer is not None and closer == user.pk:
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
