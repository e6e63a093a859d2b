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
    "case.escalate": frozenset({INVESTIGATOR, SUPERVISOR}),
    "case.close": frozenset({INVESTIGATOR, SUPERVISOR}),
    "case.approve": frozenset({SUPERVISOR}),
    "case.reject_closure": frozenset({SUPERVISOR}),
    "case.reopen": frozenset({SUPERVISOR}),
    "supervisor.view": frozenset({SUPERVISOR, ADMIN}),
    "dashboard.view": frozenset({INVESTIGATOR, SUPERVISOR, ADMIN, AUDITOR}),
    "transaction.view": frozenset({INVESTIGATOR, SUPERVISOR, ADMIN, AUDITOR}),
    "model.view": frozenset({SUPERVISOR, ADMIN}),
    "model.promote": frozenset({ADMIN, SUPERVISOR}),
    "audit.view": frozenset({AUDITOR, ADMIN}),
    "apikey.manage": frozenset({ADMIN}),
}


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


def user_can(user: Any, action: str, obj: Any = None) -> bool:
    """True when ``user`` may perform ``action`` (on ``obj`` where given)."""
    allowed = ACTION_ROLES.get(action)
    if not allowed:
        return False
    return bool(user_roles(user) & allowed)


def ensure_allowed(user: Any, action: str, obj: Any = None) -> None:
    """Raise :class:`PermissionDeniedError` unless ``user_can``."""
    if not user_can(user, action, obj):
        raise PermissionDeniedError(f"Your role does not allow '{action}'.")
