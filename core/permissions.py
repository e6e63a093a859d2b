"""Roles and the one function that answers "may this user do this action on this object".

Roles are Django groups (created by a data migration). Action codes are the same strings the
audit log records. The table of which roles may do what is one dict, :data:`ACTION_ROLES`:
the kernel's own actions are written here, and each app adds its own at start-up
(``AppConfig.ready`` → :func:`actions_register`), the case actions derived from the workflow
table. Unknown users and unknown actions are refused (fail closed).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .errors import PermissionDeniedError

# The role names are re-exported here: ``from core.permissions import SUPERVISOR``.
from .roles import ADMIN, AUDITOR, INVESTIGATOR, ROLES, SUPERVISOR

__all__ = (
    "ACTION_ROLES",
    "ADMIN",
    "AUDITOR",
    "INVESTIGATOR",
    "ROLES",
    "SUPERVISOR",
    "actions_register",
    "ensure_allowed",
    "refusal",
    "user_can",
    "user_roles",
)

# An object-level rule: (user, the user's roles, action, obj) → why not, or None.
ObjectRule = Callable[[Any, frozenset[str], str, Any], "str | None"]

# Which roles may perform each action at all; object-level rules per action prefix below.
ACTION_ROLES: dict[str, frozenset[str]] = {
    "audit.view": frozenset({AUDITOR, ADMIN}),
    "audit.export": frozenset({AUDITOR, ADMIN}),
    "user.manage": frozenset({ADMIN}),
    # The Django admin: a triage interface for case workers, administration for admins, and
    # read-only for auditors; what each role may do per model is in ``core.admin_rules``.
    "admin.site": frozenset({INVESTIGATOR, SUPERVISOR, ADMIN, AUDITOR}),
}
_OBJECT_RULES: dict[str, ObjectRule] = {}


def actions_register(
    roles: Mapping[str, frozenset[str]],
    *,
    object_rule: tuple[str, ObjectRule] | None = None,
) -> None:
    """Add an app's actions (code → roles) to :data:`ACTION_ROLES`, and optionally the
    object-level rule for the actions starting with a prefix (``("case.", rule)``).

    Called once per app at start-up. Registering again with the same roles is a no-op;
    a code given other roles than it already has is a programming error (``ValueError``)."""
    for code, allowed in roles.items():
        known = ACTION_ROLES.get(code)
        if known is not None and known != allowed:
            raise ValueError(f"Action '{code}' is already registered with other roles.")
        ACTION_ROLES[code] = frozenset(allowed)
    if object_rule is not None:
        prefix, rule = object_rule
        if _OBJECT_RULES.get(prefix, rule) is not rule:
            raise ValueError(f"An object rule for '{prefix}' is already registered.")
        _OBJECT_RULES[prefix] = rule


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
    if obj is None:
        return None
    for prefix, rule in _OBJECT_RULES.items():
        if action.startswith(prefix):
            return rule(user, roles, action, obj)
    return None


def user_can(user: Any, action: str, obj: Any = None) -> bool:
    """True when ``user`` may perform ``action`` (on ``obj`` where given)."""
    return refusal(user, action, obj) is None


def ensure_allowed(user: Any, action: str, obj: Any = None) -> None:
    """Raise :class:`PermissionDeniedError` unless ``user_can``."""
    reason = refusal(user, action, obj)
    if reason is not None:
        raise PermissionDeniedError(reason)
