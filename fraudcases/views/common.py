"""Shared plumbing of the workspace views: role checks that fail closed."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied

from core.permissions import refusal


def allowed(action: str):
    """Sign-in required (anonymous → login page); without ``action``'s role → 403."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapper(request, *args, **kwargs):
            reason = refusal(request.user, action)
            if reason is not None:
                raise PermissionDenied(reason)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
