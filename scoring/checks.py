"""System checks of the scoring app (``manage.py check`` and every start)."""

from __future__ import annotations

from django.conf import settings
from django.core import checks
from django.utils.module_loading import import_string


@checks.register()
def hits_handler_resolves(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """``SCORING_HITS_HANDLER`` names a callable: without it, risky transactions open no case."""
    path = getattr(settings, "SCORING_HITS_HANDLER", "")
    try:
        handler = import_string(path)
    except ImportError as exc:
        return [
            checks.Error(
                f"SCORING_HITS_HANDLER {path!r} does not resolve: {exc}",
                hint="Name the callable that opens cases for scoring hits.",
                id="scoring.E001",
            )
        ]
    if not callable(handler):
        return [checks.Error(f"SCORING_HITS_HANDLER {path!r} is not callable.", id="scoring.E002")]
    return []
