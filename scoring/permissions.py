"""The scoring app's actions in the one permission table (``core.permissions``); registered
once at start-up (``ScoringConfig.ready``)."""

from __future__ import annotations

from core.permissions import ADMIN, SUPERVISOR, actions_register

SCORING_ACTION_ROLES: dict[str, frozenset[str]] = {
    "model.view": frozenset({SUPERVISOR, ADMIN}),
    "model.promote": frozenset({ADMIN, SUPERVISOR}),
    "rule.manage": frozenset({ADMIN}),
    "apikey.manage": frozenset({ADMIN}),
}


def register() -> None:
    """Add the scoring actions to the permission table."""
    actions_register(SCORING_ACTION_ROLES)
