"""The investigator's pages: queue, next case, case detail, actions, bulk actions, attachments."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import FileResponse, Http404, HttpResponseRedirect, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from scoring.models import Transaction

from .. import services
from ..errors import ApplicationError
from ..forms import (
    ApproveForm,
    AssignForm,
    AttachmentForm,
    BulkForm,
    CloseForm,
    NoteForm,
    QueueFilterForm,
    ReasonForm,
    RejectForm,
    TagForm,
)
from ..models import Case
from ..permissions import ADMIN, SUPERVISOR, user_can, user_roles
from ..selectors import (
    attachment_get,
    case_account_history,
    case_available_actions,
    case_get,
    case_linked,
    case_list,
    case_timeline,
)
from .common import allowed

PAGE_SIZE = 50


def _queue_context(request, query: QueryDict) -> dict:
    form = QueueFilterForm(query if query else None)
    filters = form.filters()
    qs = case_list(user=request.user, filters=filters).prefetch_related(
        Prefetch(
            "transactions",
            queryset=Transaction.objects.only("id", "reasons", "amount", "currency").order_by(),
        ),
        "tags",
    )
    page = Paginator(qs, PAGE_SIZE).get_page(query.get("page"))
    for case in page:
        txns = list(case.transactions.all())
        case.n_transactions = len(txns)
        currencies = {t.currency for t in txns}
        case.total_amount = sum((t.amount for t in txns), Decimal(0))
        case.total_currency = currencies.pop() if len(currencies) == 1 else ""
    return {
        "form": form,
        "page": page,
        "query": query.urlencode(),
        "can_bulk": user_can(request.user, "case.bulk"),
        "can_claim": user_can(request.user, "case.claim"),
    }


@require_GET
@allowed("case.view")
def case_queue(request):
    """``/cases/``: the queue — sortable, filterable, searchable, paginated."""
    context = _queue_context(request, request.GET)
    context["bulk_form"] = BulkForm()
    return render(request, "cases/queue.html", context)


@require_http_methods(["GET", "POST"])
@allowed("case.claim")
def case_next(request):
    """``/cases/next/``: GET shows what is waiting; POST claims the top case and opens it."""
    if request.method == "POST":
        try:
            case = services.case_claim_next(actor=request.user)
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return redirect("case-next")
        if case is None:
            messages.info(request, "No unassigned new cases are waiting. Well done.")
            return redirect("case-queue")
        messages.success(request, f"Case #{case.pk} is yours now.")
        return redirect("case-detail", pk=case.pk)
    waiting = case_list(user=request.user, filters={"status": "new", "assignee": "none"})
    return render(
        request,
        "cases/next.html",
        {"waiting": waiting.count(), "top": waiting.order_by("-priority_rank", "created_at")[:5]},
    )


# Action slug in the URL → (form, service call, success message).
ACTIONS = {
    "assign": AssignForm,
    "take": None,
    "start-review": None,
    "escalate": ReasonForm,
    "close": CloseForm,
    "approve": ApproveForm,
    "reject": RejectForm,
    "reopen": ReasonForm,
    "note": NoteForm,
    "tag": TagForm,
}


def _run_action(slug: str, case: Case, user, data: dict) -> str:
    if slug == "assign":
        assignee = data.get("assignee")
        services.case_assign(case=case, actor=user, assignee=assignee)
        return f"Assigned to {assignee.get_username()}." if assignee else "Unassigned."
    if slug == "take":
        services.case_assign(case=case, actor=user, assignee=user)
        return "The case is yours."
    if slug == "start-review":
        services.case_start_review(case=case, actor=user)
        return "Review started."
    if slug == "escalate":
        services.case_escalate(case=case, actor=user, reason=data["reason"])
        return "Escalated to the supervisors."
    if slug == "close":
        case = services.case_close(
            case=case, actor=user, disposition=data["disposition"], note=data["note"]
        )
        if case.status == Case.Status.PENDING_APPROVAL:
            return "Closure requested: a supervisor must approve it (four-eyes rule)."
        return "Case closed."
    if slug == "approve":
        services.case_approve_closure(case=case, actor=user, note=data.get("note", ""))
        return "Closure approved; the case is closed."
    if slug == "reject":
        services.case_reject_closure(case=case, actor=user, note=data["note"])
        return "Sent back to review."
    if slug == "reopen":
        services.case_reopen(case=case, actor=user, reason=data["reason"])
        return "Case reopened."
    if slug == "note":
        services.case_note_add(case=case, actor=user, body=data["body"])
        return "Note added."
    if slug == "tag":
        tags = services.case_tags_update(
            case=case, actor=user, add=data["add_list"], remove=data["remove_list"]
        )
        return f"Tags: {', '.join(tags) or 'none'}."
    raise Http404("Unknown action.")


def _detail_context(request, case: Case) -> dict:
    user = request.user
    transactions = list(
        case.transactions.select_related("model_version").order_by("occurred_at", "id")
    )
    on_case = {t.pk for t in transactions}
    history = case_account_history(case=case)
    for txn in history:
        txn.on_this_case = txn.pk in on_case
    return {
        "case": case,
        "transactions": transactions,
        "history": history,
        "linked": case_linked(case=case),
        "notes": case.notes.select_related("author"),
        "attachments": case.attachments.select_related("uploaded_by"),
        "tags": list(case.tags.all()),
        "timeline": case_timeline(user=user, case=case),
        "actions": case_available_actions(user=user, case=case),
        "can_download": user_can(user, "case.attachment_download", case),
        "max_upload": settings.ATTACHMENT_MAX_BYTES,
        "can_assign_others": bool(user_roles(user) & {SUPERVISOR, ADMIN}),
        "forms": {
            "assign": AssignForm(initial={"assignee": case.assignee}),
            "escalate": ReasonForm(),
            "close": CloseForm(),
            "approve": ApproveForm(),
            "reject": RejectForm(),
            "reopen": ReasonForm(),
            "note": NoteForm(),
            "tag": TagForm(),
            "attach": AttachmentForm(),
        },
    }


def _get_case_or_404(request, pk: int) -> Case:
    case = case_get(user=request.user, case_id=pk)
    if case is None:
        raise Http404("No such case.")
    return case


@require_GET
@allowed("case.view")
def case_detail(request, pk: int):
    """``/cases/<id>/``: everything about one case, and the actions the user may take."""
    case = _get_case_or_404(request, pk)
    return render(request, "cases/detail.html", _detail_context(request, case))


def _render_failure(request, case: Case, slug: str, form, message: str, status: int):
    context = _detail_context(request, case)
    if form is not None:
        context["forms"][slug if slug in context["forms"] else "note"] = form
    context["failed_action"] = slug
    messages.error(request, message)
    return render(request, "cases/detail.html", context, status=status)


@require_POST
@allowed("case.view")
def case_action(request, pk: int, action: str):
    """``POST /cases/<id>/<action>/``: one workflow action through its service."""
    if action not in ACTIONS:
        raise Http404("Unknown action.")
    case = _get_case_or_404(request, pk)
    form_class = ACTIONS[action]
    form = form_class(request.POST) if form_class else None
    if form is not None and not form.is_valid():
        errors = "; ".join(
            f"{form.fields[f].label or f}: {' '.join(e)}" if f in form.fields else " ".join(e)
            for f, e in form.errors.items()
        )
        return _render_failure(request, case, action, form, f"Please correct: {errors}", 400)
    try:
        message = _run_action(action, case, request.user, form.cleaned_data if form else {})
    except ApplicationError as exc:
        case.refresh_from_db()
        return _render_failure(request, case, action, form, exc.message, exc.status_code)
    messages.success(request, message)
    return redirect(reverse("case-detail", args=[case.pk]) + "#timeline")


@require_POST
@allowed("case.attach")
def attachment_upload(request, pk: int):
    """``POST /cases/<id>/attachments/``: upload evidence (size and type limits apply)."""
    case = _get_case_or_404(request, pk)
    form = AttachmentForm(request.POST, request.FILES)
    if not form.is_valid():
        message = " ".join(e for errs in form.errors.values() for e in errs)
        return _render_failure(request, case, "attach", form, message, 400)
    try:
        attachment = services.attachment_add(
            case=case, actor=request.user, upload=form.cleaned_data["file"]
        )
    except ApplicationError as exc:
        return _render_failure(request, case, "attach", form, exc.message, exc.status_code)
    messages.success(request, f"Attached {attachment.original_name}.")
    return redirect(reverse("case-detail", args=[case.pk]) + "#attachments")


@require_GET
@allowed("case.attachment_download")
def attachment_download(request, pk: int):
    """``/attachments/<id>/``: the file, after a permission check; every download is audited."""
    attachment = attachment_get(user=request.user, attachment_id=pk)
    if attachment is None:
        raise Http404("No such attachment.")
    try:
        services.attachment_download_record(attachment=attachment, actor=request.user)
        handle = attachment.file.open("rb")
    except FileNotFoundError as exc:
        raise Http404("The stored file is missing.") from exc
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=attachment.original_name,
        content_type=attachment.content_type,
    )
    response["Cache-Control"] = "private, no-store"
    return response


@require_POST
@allowed("case.bulk")
def case_bulk(request):
    """``POST /cases/bulk/``: assign, tag or close-as-legitimate many cases (all or nothing)."""
    query = QueryDict(request.POST.get("return_query", ""))
    form = BulkForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        ids = data["cases"]
        try:
            if data["action"] == "assign":
                services.cases_bulk_assign(
                    case_ids=ids, actor=request.user, assignee=data["assignee"]
                )
                message = f"Assigned {len(ids)} case(s) to {data['assignee'].get_username()}."
            elif data["action"] == "tag":
                services.cases_bulk_tag(case_ids=ids, actor=request.user, tag=data["tag"])
                message = f"Tagged {len(ids)} case(s) '{data['tag'].strip().lower()}'."
            else:
                cases = services.cases_bulk_close_legitimate(
                    case_ids=ids, actor=request.user, note=data["note"]
                )
                pending = sum(c.status == Case.Status.PENDING_APPROVAL for c in cases)
                message = f"Closed {len(cases) - pending} case(s) as legitimate." + (
                    f" {pending} need a supervisor's approval (four-eyes)." if pending else ""
                )
        except ApplicationError as exc:
            status, error = exc.status_code, exc.message
        else:
            messages.success(request, message)
            return HttpResponseRedirect(reverse("case-queue") + ("?" + query.urlencode()))
    else:
        status = 400
        error = " ".join(e for errs in form.errors.values() for e in errs)
    messages.error(request, error)
    context = _queue_context(request, query)
    context["bulk_form"] = form
    return render(request, "cases/queue.html", context, status=status)
