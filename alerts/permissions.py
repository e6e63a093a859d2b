"""The alerts app's actions in the one permission table (``core.permissions``); registered
once at start-up (``AlertsConfig.ready``). docs/alerts.md."""

from __future__ import annotations

from core.permissions import ADMIN, SUPERVISOR, actions_register

# Supervisors and admins see channels, deliveries and routing and may resend or send a test
# message; channels and rules are admins' to change.
ALERTS_ACTION_ROLES: dict[str, frozenset[str]] = {
    "alerts.view": frozenset({SUPERVISOR, ADMIN}),
    "alerts.resend": frozenset({SUPERVISOR, ADMIN}),
    "alerts.manage": frozenset({ADMIN}),
}


def register() -> None:
    """Add the alerts actions to the permission table."""
    actions_register(ALERTS_ACTION_ROLES)
