"""Request id propagation and security headers."""

import uuid
from contextvars import ContextVar

from django.conf import settings

current_request_id: ContextVar[str | None] = ContextVar("current_request_id", default=None)
# The client address of the request being served (audit events record it).
current_client_ip: ContextVar[str | None] = ContextVar("current_client_ip", default=None)


def client_ip(request) -> str | None:
    """The peer address (a proxy in front sets REMOTE_ADDR via its own trusted configuration)."""
    return request.META.get("REMOTE_ADDR") or None


class RequestIdMiddleware:
    """Give every request an id (or keep a sane incoming ``X-Request-ID``) for audit and logs."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if 8 <= len(incoming) <= 64 and incoming.isprintable() else ""
        request.request_id = request_id or uuid.uuid4().hex
        token = current_request_id.set(request.request_id)
        ip_token = current_client_ip.set(client_ip(request))
        try:
            response = self.get_response(request)
        finally:
            current_request_id.reset(token)
            current_client_ip.reset(ip_token)
        response["X-Request-ID"] = request.request_id
        if not request.path.startswith("/api/docs"):
            response.setdefault("Content-Security-Policy", settings.CONTENT_SECURITY_POLICY)
        return response
