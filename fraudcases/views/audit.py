"""``/audit/``: the audit log for auditors and admins — filter, page, export as CSV."""

from __future__ import annotations

import csv
import json

from django.core.paginator import Paginator
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from core.audit import audit_last_check, audit_record

from ..forms import AuditFilterForm
from ..selectors import audit_actions, audit_event_list
from .common import allowed

CSV_COLUMNS = [
    "id",
    "created_at",
    "actor",
    "action",
    "object_type",
    "object_id",
    "case_id",
    "before",
    "after",
    "note",
    "request_id",
    "ip_address",
    "seq",
    "key_id",
    "prev_hash",
    "hash",
]
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection); such
# cells get a leading apostrophe, which spreadsheets show as text (OWASP's advice).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def csv_safe(value) -> str:
    """A CSV cell that a spreadsheet will not evaluate."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _filtered(request):
    form = AuditFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_bound and form.is_valid() else {}
    return form, filters, audit_event_list(user=request.user, filters=filters)


@require_GET
@allowed("audit.view")
def audit_log(request):
    form, _filters, events = _filtered(request)
    page = Paginator(events.select_related("case"), 100).get_page(request.GET.get("page"))
    status = 400 if form.is_bound and not form.is_valid() else 200
    return render(
        request,
        "audit/log.html",
        {
            "form": form,
            "page": page,
            "actions": audit_actions(),
            "query": request.GET.urlencode(),
            "last_check": audit_last_check(),
        },
        status=status,
    )


class _Echo:
    def write(self, value):
        return value


def _json(value) -> str:
    return "" if value is None else json.dumps(value, sort_keys=True, default=str)


@require_GET
@allowed("audit.export")
def audit_export(request):
    """The filtered log as CSV (streamed); the export itself is recorded."""
    form, filters, events = _filtered(request)
    if form.is_bound and not form.is_valid():
        return render(
            request,
            "audit/log.html",
            {"form": form, "page": None, "actions": audit_actions()},
            status=400,
        )
    audit_record(
        actor=request.user,
        action="audit.export",
        after={k: str(v) for k, v in filters.items() if v not in (None, "")},
        note=f"{events.count()} events exported as CSV.",
    )
    writer = csv.writer(_Echo())

    def rows():
        yield writer.writerow(CSV_COLUMNS)
        for ev in events.order_by("id").iterator(chunk_size=2000):
            cells = [
                ev.id,
                ev.created_at.isoformat(),
                ev.actor_label,
                ev.action,
                ev.object_type,
                ev.object_id,
                ev.case_id or "",
                _json(ev.before),
                _json(ev.after),
                ev.note,
                ev.request_id,
                ev.ip_address or "",
                ev.seq,
                ev.key_id,
                ev.prev_hash,
                ev.hash,
            ]
            yield writer.writerow([csv_safe(cell) for cell in cells])

    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.csv"'
    return response
