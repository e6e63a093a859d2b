"""Request budgets for the API: one per API key and one per signed-in person.

Both classes read their rate from ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` at request time
(DRF's own classes bind it at import, which ``override_settings`` cannot reach), count in
``CACHES["default"]``, and over budget make DRF answer 429 with ``Retry-After``.
"""

from __future__ import annotations

from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from ..models import ApiKey


class _SettingsRateThrottle(SimpleRateThrottle):
    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)


class ApiKeyRateThrottle(_SettingsRateThrottle):
    """The budget of one API key (``request.auth`` is the ``ApiKey``); other callers pass."""

    scope = "api_key"

    def get_cache_key(self, request, view) -> str | None:
        if not isinstance(request.auth, ApiKey):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}


class UserRateThrottle(_SettingsRateThrottle):
    """The budget of one person (session or token), whichever way they sign in; API keys and
    anonymous callers pass (they have their own budget, or none is needed: they get 401)."""

    scope = "user"

    def get_cache_key(self, request, view) -> str | None:
        user = request.user
        if isinstance(request.auth, ApiKey) or not getattr(user, "is_authenticated", False):
            return None
        if user.pk is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": user.pk}
