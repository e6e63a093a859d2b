"""While the database is unreachable: 503 with ``Retry-After``, never a 500.

One definition of "the database is unavailable" (``is_database_unavailable``) serves the DRF
exception handler (JSON 503 for the API, ``core.api.exception_handler``) and
:class:`DatabaseUnavailableMiddleware` (a styled 503 page for everything else). Nothing is
acknowledged that was not stored: ingestion commits before it answers 202, so a request that
met a dead database gets a 503 and the client retries.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.signals import got_request_exception
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.template import loader
from rest_framework.response import Response
from rest_framework.views import set_rollback

logger = logging.getLogger(__name__)

DETAIL = "The service is temporarily unavailable (database unreachable). Retry shortly."


def is_database_unavailable(exc: BaseException | None) -> bool:
    """True for the connection-level errors Django raises when the database is down or lost."""
    return isinstance(exc, OperationalError | InterfaceError)


def _retry_after() -> str:
    return str(settings.DATABASE_UNAVAILABLE_RETRY_AFTER)


def _log(exc: BaseException, request=None) -> None:
    path = getattr(request, "path", "?")
    logger.error("Database unavailable while serving %s: %s", path, type(exc).__name__)


def api_unavailable_response(exc: BaseException):
    """The DRF answer: ``{"detail"}`` with 503 and ``Retry-After``."""
    _log(exc)
    set_rollback()
    return Response({"detail": DETAIL}, status=503, headers={"Retry-After": _retry_after()})


def page_unavailable_response(request) -> HttpResponse:
    """The styled 503 page (or JSON for API paths), rendered without the database: no context
    processors, no session, no user."""
    if request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", ""):
        response = JsonResponse({"detail": DETAIL}, status=503)
    else:
        html = loader.render_to_string("503.html", {"retry_after": _retry_after()})
        response = HttpResponse(html, status=503)
    response["Retry-After"] = _retry_after()
    return response


def _mark_request(sender, request=None, **kwargs) -> None:
    """``got_request_exception``: remember that the failure was the database's, so the
    middleware can turn the 500 an inner middleware produced into a 503."""
    import sys

    exc = sys.exc_info()[1]
    if request is not None and is_database_unavailable(exc):
        request.database_unavailable = True


got_request_exception.connect(_mark_request, dispatch_uid="core.outage.mark_request")


class DatabaseUnavailableMiddleware:
    """Answer 503 + ``Retry-After`` when the database is unreachable.

    A view that raises ``OperationalError``/``InterfaceError`` is caught by ``process_exception``;
    a failure in a middleware below this one (the session being saved, say) has already become a
    500 response by the time it gets here, and is recognised by the mark the
    ``got_request_exception`` receiver left on the request.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code == 500 and getattr(request, "database_unavailable", False):
            return page_unavailable_response(request)
        return response

    def process_exception(self, request, exception):
        if not is_database_unavailable(exception):
            return None
        _log(exception, request)
        return page_unavailable_response(request)
