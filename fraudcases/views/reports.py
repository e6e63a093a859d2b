"""``/cases/<id>/report.pdf`` (the case report) and ``/cases/<id>/sar/`` (the suspicious-activity
export: the drafted narrative to edit, then JSON or PDF). Both downloads are audited with the
file's SHA-256, so a copy can later be matched to the export that produced it."""

from __future__ import annotations

import hashlib

from django import forms
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_http_methods

from core.audit import audit_record

from ..reporting.case_report import build_case_report
from ..reporting.sar import NARRATIVE_MAX, sar_document, sar_draft, sar_json, sar_pdf
from ..selectors import case_get
from .common import allowed


def _case_or_404(request, pk: int):
    case = case_get(user=request.user, case_id=pk)
    if case is None:
        raise Http404("No such case.")
    return case


def _download(content: bytes, *, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


@require_GET
@allowed("case.report")
def case_report(request, pk: int):
    """The case report as a PDF download (audited ``case.report``)."""
    case = _case_or_404(request, pk)
    pdf = build_case_report(case=case, user=request.user)
    audit_record(
        actor=request.user,
        action="case.report",
        obj=case,
        after={"sha256": hashlib.sha256(pdf).hexdigest(), "bytes": len(pdf)},
        note="Case report downloaded (PDF).",
    )
    return _download(pdf, content_type="application/pdf", filename=f"case-{case.pk}-report.pdf")


class SARExportForm(forms.Form):
    narrative = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 16}),
        max_length=NARRATIVE_MAX,
        label="Narrative (edit before export)",
    )
    format = forms.ChoiceField(choices=[("json", "JSON"), ("pdf", "PDF")], label="Format")


@require_http_methods(["GET", "POST"])
@allowed("case.sar_export")
def case_sar(request, pk: int):
    """GET: the drafted export with an editable narrative; POST: the export as JSON or PDF
    (audited ``case.sar_export`` with the narrative and the file's SHA-256)."""
    case = _case_or_404(request, pk)
    draft = sar_draft(case=case)
    form = SARExportForm(
        request.POST or None, initial={"narrative": draft["narrative"], "format": "pdf"}
    )
    if request.method == "POST" and form.is_valid():
        document = sar_document(
            draft=draft, narrative=form.cleaned_data["narrative"], user=request.user
        )
        fmt = form.cleaned_data["format"]
        content = sar_json(document) if fmt == "json" else sar_pdf(document)
        audit_record(
            actor=request.user,
            action="case.sar_export",
            obj=case,
            after={
                "format": fmt,
                "sha256": hashlib.sha256(content).hexdigest(),
                "narrative_edited": document["narrative_edited"],
                "transactions": document["activity"]["transaction_count"],
            },
            note=document["narrative"][:2000],
        )
        return _download(
            content,
            content_type="application/json" if fmt == "json" else "application/pdf",
            filename=f"case-{case.pk}-sar.{fmt}",
        )
    status = 400 if request.method == "POST" else 200
    return render(
        request, "reports/sar.html", {"case": case, "draft": draft, "form": form}, status=status
    )
