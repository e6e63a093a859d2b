"""API plumbing shared by every app: the DRF exception handler."""

from __future__ import annotations

from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .errors import ApplicationError
from .outage import api_unavailable_response, is_database_unavailable


def exception_handler(exc, context):
    """Map ``ApplicationError`` to 400/403/409 with ``{"detail", "errors"}``; defer the rest."""
    if isinstance(exc, ApplicationError):
        body = {"detail": exc.message}
        if exc.extra:
            # Errors already under an "errors" key (the batch validator's) are not nested twice.
            body["errors"] = exc.extra["errors"] if set(exc.extra) == {"errors"} else exc.extra
        return Response(body, status=exc.status_code)
    if is_database_unavailable(exc):  # database down: 503 + Retry-After, never a 500
        return api_unavailable_response(exc)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError) and not (
        isinstance(response.data, dict) and "detail" in response.data
    ):
        response.data = {"detail": "Invalid input.", "errors": response.data}
    if isinstance(exc, Http404) and response.status_code == status.HTTP_404_NOT_FOUND:
        response.data = {"detail": "Not found."}
    return response
