"""Supervisor workspace (team KPIs and workload) and the dashboard (charts, CSV, chart data)."""

from __future__ import annotations

import csv
import io

from django.core.cache import cache
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from core.audit import audit_record

from ..account_actions.selectors import account_actions_pending
from ..quality.selectors import qa_pending_count
from ..reporting.dashboard import (
    CHARTS,
    CHARTS_BY_NAME,
    chart_rows,
    dashboard_charts,
    filter_choices,
)
from ..reporting.dashboard import dashboard_tiles as tiles_from
from ..reporting.filters import parse_filters
from ..reporting.kpis import PERIODS, team_kpis
from ..selectors import supervisor_overview
from .audit import csv_safe
from .common import allowed

CHOICES_CACHE_SECONDS = 600


@require_GET
@allowed("supervisor.view")
def supervisor(request):
    """``/supervisor/``: escalations, closures waiting for approval, SLA breaches, and the
    team's KPIs and workload over ``?days=`` (7, 14, 30 or 90)."""
    try:
        days = int(request.GET.get("days", 30))
    except ValueError:
        days = 0
    status = 200
    if days not in PERIODS:
        days, status = 30, 400
    context = supervisor_overview(user=request.user)
    context.update(
        kpis=team_kpis(user=request.user, days=days),
        periods=PERIODS,
        qa_pending=qa_pending_count(user=request.user),
        account_actions_pending=account_actions_pending(user=request.user),
    )
    return render(request, "supervisor/overview.html", context, status=status)


def _choices() -> dict[str, list[str]]:
    """Channels and model versions for the filter's suggestions (cached: a distinct over all
    transactions is not free)."""
    found = cache.get("fc:dashboard:choices")
    if found is None:
        found = filter_choices()
        cache.set("fc:dashboard:choices", found, CHOICES_CACHE_SECONDS)
    return found


def _tile_text(tiles: dict) -> dict[str, str]:
    """The headline figures as shown (the page and the chart-data endpoint share them)."""

    def pct(value) -> str:
        return "–" if value is None else f"{value * 100:.1f}%"

    def money(pairs) -> str:
        return ", ".join(f"{float(v):,.2f} {cur}" for cur, v in pairs) or "0.00"

    return {
        "open_cases": f"{tiles['open_cases']:,}",
        "sla_breached": f"{tiles['sla_breached']:,}",
        "at_risk": money(tiles["at_risk"]),
        "confirmed": money(tiles["confirmed"]),
        "transactions": f"{tiles['transactions']:,}",
        "flagged_rate": pct(tiles["flagged_rate"]),
        "closed_cases": f"{tiles['closed_cases']:,}",
        "precision": pct(tiles["precision"]),
        "overturn_rate": pct(tiles["overturn_rate"]),
        "reviewed": f"{tiles['reviewed']:,}",
    }


@require_GET
@allowed("dashboard.view")
def dashboard(request):
    """``/dashboard/``: every chart for the filters in the URL (400 with the form's errors and
    the default filters when a filter is invalid)."""
    filters, form = parse_filters(request.GET)
    charts = dashboard_charts(user=request.user, filters=filters)
    context = {
        "form": form,
        "filter_errors": form.errors_by_param(),
        "filters": filters,
        "query": filters.query_string(),
        "charts": charts,
        "panels": [
            {"name": c.name, "title": c.title, "kind": c.kind, "description": c.description}
            for c in CHARTS
        ],
        "tiles": _tile_text(tiles_from(charts)),
        "choices": _choices(),
    }
    return render(request, "dashboard.html", context, status=200 if form.is_valid() else 400)


@require_GET
@allowed("dashboard.view")
def dashboard_data(request):
    """``/dashboard/data.json``: the charts and headline figures for the filters (what the page
    script loads when a filter changes); 400 with ``errors`` for invalid filters."""
    filters, form = parse_filters(request.GET)
    if not form.is_valid():
        return JsonResponse({"errors": form.errors_by_param()}, status=400)
    charts = dashboard_charts(user=request.user, filters=filters)
    return JsonResponse(
        {"query": filters.query_string(), "charts": charts, "tiles": _tile_text(tiles_from(charts))}
    )


def _csv_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return csv_safe(value)
    return str(value)


@require_GET
@allowed("dashboard.export")
def dashboard_csv(request, chart: str):
    """``/dashboard/<chart>.csv``: the chart's rows exactly as the chart shows them, safe to
    open in a spreadsheet (text cells starting with = + - @ are neutralised). Audited."""
    spec = CHARTS_BY_NAME.get(chart)
    if spec is None:
        raise Http404("Unknown chart.")
    filters, form = parse_filters(request.GET)
    if not form.is_valid():
        errors = "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors_by_param().items())
        return HttpResponse(f"Invalid filters: {errors}\n", status=400, content_type="text/plain")
    rows = chart_rows(user=request.user, chart=spec, filters=filters)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(spec.columns)
    for row in rows:
        writer.writerow([_csv_cell(v) for v in row])
    audit_record(
        actor=request.user,
        action="dashboard.export",
        after={"chart": spec.name, "filters": filters.query_string(), "rows": len(rows)},
    )
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    name = f"{spec.name}_{filters.start.isoformat()}_{filters.end.isoformat()}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "no-store"
    return response
