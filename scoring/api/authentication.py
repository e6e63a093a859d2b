"""``Authorization: Api-Key <key>`` for external systems."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from ..models import ApiKey
from ..services.apikeys import api_key_lookup


@dataclass(frozen=True)
class ApiClient:
    """The principal of a request made with an API key (a system, not a person)."""

    key: ApiKey
    is_authenticated: bool = True
    is_api_client: bool = True
    is_active: bool = True
    is_superuser: bool = False

    @property
    def name(self) -> str:
        return self.key.name

    @property
    def pk(self) -> None:  # not a user row; audit records it by label
        return None

    def get_username(self) -> str:
        return f"api:{self.key.name}"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Api-Key"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode(errors="replace")
        if not header:
            return None
        scheme, _, credential = header.partition(" ")
        if scheme.lower() != self.keyword.lower():
            return None
        credential = credential.strip()
        if not credential:
            raise exceptions.AuthenticationFailed("Api-Key header has no key.")
        key = api_key_lookup(plaintext=credential)
        if key is None:
            raise exceptions.AuthenticationFailed("Invalid API key.")
        if key.revoked_at is not None:
            raise exceptions.AuthenticationFailed("This API key has been revoked.")
        # Throttle the write: last_used_at only needs minute precision.
        now = timezone.now()
        if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
            key.last_used_at = now  # the row other requests of this process reuse
        return ApiClient(key=key), key

    def authenticate_header(self, request) -> str:
        return self.keyword


class IsApiClient:
    """Permission: only requests authenticated with an API key."""

    message = "This endpoint is for API clients: send 'Authorization: Api-Key <key>'."

    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, ApiKey)

    def has_object_permission(self, request, view, obj) -> bool:
        return self.has_permission(request, view)


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """Describes :class:`ApiKeyAuthentication` in the OpenAPI schema (``Authorization:
    Api-Key <key>``), so clients and fuzzers know how to authenticate."""

    target_class = ApiKeyAuthentication
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "A machine credential: `Authorization: Api-Key <key>` (keys come from "
            "`manage.py create_api_key`).",
        }
