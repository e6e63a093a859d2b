"""Operational endpoints: health and Prometheus metrics."""

from __future__ import annotations

import time

from django.db.models import Count, Min
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from scoring.api.authentication import ApiKeyAuthentication
from scoring.models import Transaction, WorkerHeartbeat
from scoring.services.health import health_check

from ..models import Case
from ..permissions import user_can


@never_cache
@require_GET
def healthz(request):
    """``/healthz``: 200 when database, broker and a worker are fine; 503 naming what is not."""
    checks = health_check()
    failing = [name for name, check in checks.items() if not check["ok"]]
    body = {"status": "ok" if not failing else "unhealthy", "failing": failing, "checks": checks}
    return JsonResponse(body, status=200 if not failing else 503)


def _metrics_allowed(request) -> bool:
    if request.user.is_authenticated and user_can(request.user, "dashboard.view"):
        return True
    try:
        return ApiKeyAuthentication().authenticate(request) is not None
    except Exception:  # noqa: BLE001 - a bad key is simply "not allowed" here
        return False


@never_cache
@require_GET
def metrics(request):
    """``/metrics``: Prometheus text format. For API keys (scrapers) and signed-in staff."""
    if not _metrics_allowed(request):
        return HttpResponse("Authentication required.\n", status=401, content_type="text/plain")
    now = timezone.now()
    lines: list[str] = []

    def gauge(name: str, help_text: str, samples: list[tuple[dict, float]]) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} gauge")
        for labels, value in samples:
            label_text = ",".join(f'{k}="{v}"' for k, v in labels.items())
            lines.append(f"{name}{{{label_text}}} {value}" if label_text else f"{name} {value}")

    by_status = dict(
        Transaction.objects.order_by()
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    gauge(
        "fraudcases_transactions",
        "Transactions by scoring status.",
        [({"status": s}, by_status.get(s, 0)) for s in Transaction.Status.values],
    )
    by_level = dict(
        Transaction.objects.filter(status=Transaction.Status.SCORED)
        .order_by()
        .values_list("risk_level")
        .annotate(n=Count("id"))
        .values_list("risk_level", "n")
    )
    gauge(
        "fraudcases_transactions_scored_by_level",
        "Scored transactions by risk level.",
        [({"level": lv}, by_level.get(lv, 0)) for lv in ("low", "medium", "high", "critical")],
    )
    oldest = Transaction.objects.filter(status=Transaction.Status.PENDING).aggregate(
        m=Min("created_at")
    )["m"]
    gauge(
        "fraudcases_oldest_pending_seconds",
        "Age of the oldest transaction waiting to be scored.",
        [({}, round((now - oldest).total_seconds(), 1) if oldest else 0)],
    )
    cases = dict(
        Case.objects.order_by()
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    gauge(
        "fraudcases_cases",
        "Cases by status.",
        [({"status": s}, cases.get(s, 0)) for s in Case.Status.values],
    )
    overdue = Case.objects.filter(status__in=Case.OPEN_STATUSES, due_at__lt=now).count()
    gauge("fraudcases_cases_sla_breached", "Open cases past their SLA due time.", [({}, overdue)])
    beats = list(WorkerHeartbeat.objects.values_list("hostname", "last_seen"))
    gauge(
        "fraudcases_worker_heartbeat_age_seconds",
        "Seconds since each worker's last heartbeat.",
        [({"worker": h}, round((now - seen).total_seconds(), 1)) for h, seen in beats],
    )
    gauge(
        "fraudcases_scrape_timestamp_seconds", "Time of this scrape.", [({}, round(time.time(), 3))]
    )
    return HttpResponse("\n".join(lines) + "\n", content_type="text/plain; version=0.0.4")
