"""Supervisor workspace and the dashboard."""

from __future__ import annotations

from django.shortcuts import render
from django.views.decorators.http import require_GET

from ..models import Case
from ..selectors import dashboard_stats, supervisor_overview
from .common import allowed


@require_GET
@allowed("supervisor.view")
def supervisor(request):
    """``/supervisor/``: escalations, closures waiting for approval, SLA breaches, workload."""
    return render(request, "supervisor/overview.html", supervisor_overview(user=request.user))


@require_GET
@allowed("dashboard.view")
def dashboard(request):
    """``/dashboard/``: queue health, SLA, throughput, alert precision, workload, scoring."""
    stats = dashboard_stats(user=request.user)
    stats["priorities"] = Case.Priority.choices
    stats["open_statuses"] = [(s, Case.Status(s).label) for s in Case.OPEN_STATUSES]
    stats["dispositions"] = Case.Disposition.choices
    return render(request, "dashboard.html", stats)
