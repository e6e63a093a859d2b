"""Operational endpoints: health and Prometheus metrics.

- ``/healthz`` answers everyone: 200 or 503 with ``{"status", "failing"}``; signed-in staff
  (``is_staff``) also get each check's detail.
- ``/metrics`` answers signed-in staff, or a scraper sending ``Authorization: Bearer
  <METRICS_TOKEN>`` (token access is off while ``METRICS_TOKEN`` is empty).
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from core.metrics import metrics_exposition
from scoring.services.health import health_check


def _is_staff(request) -> bool:
    """Signed-in staff; False when the session cannot be read (the database is down)."""
    user = getattr(request, "user", None)
    try:
        return bool(user is not None and user.is_authenticated and user.is_active and user.is_staff)
    except DatabaseError:
        return False


@never_cache
@require_GET
def healthz(request):
    """``/healthz``: 200 when database, broker, a worker and the champion model are fine; 503
    naming what is not. Details only for staff (no vendor or exception text for anonymous)."""
    checks = health_check()
    failing = [name for name, check in checks.items() if not check["ok"]]
    body: dict = {"status": "unhealthy" if failing else "ok", "failing": failing}
    if _is_staff(request):
        body["checks"] = checks
    response = JsonResponse(body, status=503 if failing else 200)
    if failing:
        response["Retry-After"] = str(settings.DATABASE_UNAVAILABLE_RETRY_AFTER)
    return response


def _token_ok(request) -> bool:
    expected = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if not expected or scheme.lower() != "bearer" or not token:
        return False
    return hmac.compare_digest(token.strip().encode(), expected.encode())


@never_cache
@require_GET
def metrics(request):
    """``/metrics``: Prometheus text format, for a scraper's bearer token or signed-in staff."""
    if not _token_ok(request):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            response = HttpResponse(
                "Authentication required.\n", status=401, content_type="text/plain"
            )
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
        if not _is_staff(request):
            return HttpResponse("Staff only.\n", status=403, content_type="text/plain")
    body, content_type = metrics_exposition()
    return HttpResponse(body, content_type=content_type)
