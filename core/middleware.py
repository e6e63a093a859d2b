"""Request id propagation. (Content-Security-Policy: django-csp, configured in settings.)"""

import re
import uuid
from contextvars import ContextVar

current_request_id: ContextVar[str | None] = ContextVar("current_request_id", default=None)
# The client address of the request being served (audit events record it).
current_client_ip: ContextVar[str | None] = ContextVar("current_client_ip", default=None)


# What a client may send as ``X-Request-ID``: it ends up in audit rows, logs and CSV exports.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def request_id_is_valid(value: object) -> bool:
    """True for 1-64 characters of ``[A-Za-z0-9._-]`` (anything else is replaced, not kept)."""
    return isinstance(value, str) and _REQUEST_ID.fullmatch(value) is not None


def client_ip(request) -> str | None:
    """The peer address (a proxy in front sets REMOTE_ADDR via its own trusted configuration)."""
    return request.META.get("REMOTE_ADDR") or None


class RequestIdMiddleware:
    """Give every request an id for audit and logs: the client's ``X-Request-ID`` when it is
    valid (:func:`request_id_is_valid`), otherwise a fresh one."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request.request_id = incoming if request_id_is_valid(incoming) else uuid.uuid4().hex
        token = current_request_id.set(request.request_id)
        ip_token = current_client_ip.set(client_ip(request))
        try:
            response = self.get_response(request)
        finally:
            current_request_id.reset(token)
            current_client_ip.reset(ip_token)
        response["X-Request-ID"] = request.request_id
        return response
