"""The investigator's pages: queue, next case, case detail, actions, bulk actions, attachments."""

from __future__ import annotations

import hashlib
from decimal import Decimal

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import FileResponse, Http404, HttpResponseRedirect, JsonResponse, QueryDict
from django.shortcuts import redirect, render
from django.template import TemplateDoesNotExist
from django.template.loader import get_template, render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.errors import ApplicationError
from core.permissions import ADMIN, SUPERVISOR, user_can, user_roles
from scoring.engine.explain import reason_label
from scoring.models import Transaction

from .. import services, workflow
from ..forms import AttachmentForm, BulkForm, action_form
from ..models import Case
from ..reporting.dashboard import FLAGGED_LEVELS
from ..routing_selectors import claimable_cases, my_queues
from ..selectors import (
    attachment_get,
    case_account_history,
    case_attachments,
    case_available_actions,
    case_filter,
    case_get,
    case_linked,
    case_notes,
    case_queue_page_filters,
    case_timeline,
)
from ..workflow import BULK_BY_SLUG, PAGE, actions_on
from .common import allowed

PAGE_SIZE = 50


def _queue_context(request, query: QueryDict) -> dict:
    filterset = case_filter(user=request.user, data=case_queue_page_filters(query))
    # The page's ids first (an index walk: no join, no row beyond the ids), then only those 50
    # cases with what the rows show. Paging over the cases themselves joined and sorted every
    # matching case to reach a late page (the last of 33k open cases took 80 ms).
    page = Paginator(filterset.qs.values_list("pk", flat=True), PAGE_SIZE).get_page(
        query.get("page")
    )
    ids = list(page.object_list)
    rows = (
        filterset.qs.filter(pk__in=ids)
        .order_by()
        .prefetch_related(
            Prefetch(
                "transactions",
                queryset=Transaction.objects.only("id", "reasons", "amount", "currency").order_by(),
            ),
            "tags",
        )
    )
    by_id = {case.pk: case for case in rows}
    page.object_list = [by_id[pk] for pk in ids if pk in by_id]
    signature = hashlib.sha256()
    for case in page:
        signature.update(f"{case.pk}:{case.updated_at.isoformat()};".encode())
        txns = list(case.transactions.all())
        case.n_transactions = len(txns)
        currencies = {t.currency for t in txns}
        case.total_amount = sum((t.amount for t in txns), Decimal(0))
        case.total_currency = currencies.pop() if len(currencies) == 1 else ""
    return {
        # An invalid value is shown as the field's error; the other filters still apply.
        "form": filterset.form,
        "page": page,
        "query": query.urlencode(),
        "can_bulk": user_can(request.user, "case.bulk"),
        "can_claim": user_can(request.user, "case.claim"),
        # Changes when a case on this page is added, removed or changed (the live queue).
        "signature": f"{page.paginator.count}-{signature.hexdigest()[:16]}",
    }


@require_GET
@allowed("case.view")
def case_queue(request):
    """``/cases/``: the queue — sortable, filterable, searchable, paginated."""
    context = _queue_context(request, request.GET)
    context["bulk_form"] = BulkForm()
    return render(request, "cases/queue.html", context)


@require_GET
@allowed("case.view")
def case_queue_live(request):
    """``/cases/live/``: the queue's rows for the same query string as ``/cases/`` (JSON with
    the rendered rows, the count and a signature), polled by ``queue_live.js`` so new and
    changed cases appear without a reload."""
    context = _queue_context(request, request.GET)
    rows = render_to_string("cases/_queue_rows.html", context, request=request)
    page = context["page"]
    response = JsonResponse(
        {
            "count": page.paginator.count,
            "ids": [case.pk for case in page],
            "signature": context["signature"],
            "rows": rows,
            "errors": {f: list(e) for f, e in context["form"].errors.items()},
        }
    )
    response["Cache-Control"] = "private, no-store"
    return response


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
    # The person's queues in order, their auto-assigned cases first (routing_selectors).
    waiting = claimable_cases(user=request.user).select_related("queue")
    own = waiting.filter(assignee_id=request.user.pk).count()
    context = {
        "own": own,
        "waiting": waiting.count() - own,
        "top": waiting[:5],
        "queues": my_queues(user=request.user),
    }
    return render(request, "cases/next.html", context)


# Actions the detail template lays out by hand; any other page action of the workflow table is
# rendered by its generic panel (so a new table entry appears on the page by itself).
HAND_LAID_OUT = frozenset(
    {"take", "assign", "start-review", "escalate", "close", "approve", "reject", "reopen"}
    | {"note", "tag"}
)


def _initial(action, case: Case) -> dict:
    return {"assignee": case.assignee} if action.slug == "assign" else {}


# The case page shows this many transactions (flagged first) until "show all" is asked for.
TXN_ROWS_SHOWN = 10
# Another engineer's panel (issue 14 item 7), included on the case page once it exists.
ACCOUNT_ACTIONS_TEMPLATE = "cases/_account_actions.html"


def _flagged_first(transactions: list[Transaction]) -> list[Transaction]:
    """Flagged (high or critical) transactions first, each group in time order; each one
    marked ``flagged`` for the template."""
    for txn in transactions:
        txn.flagged = txn.risk_level in FLAGGED_LEVELS
    return sorted(transactions, key=lambda t: not t.flagged)


def _reason_summary(transactions: list[Transaction]) -> list[dict]:
    """Each reason across the case's transactions: its label, how many transactions give it and
    the detail of the highest-scored one; most frequent first."""
    found: dict[str, dict] = {}
    for txn in sorted(transactions, key=lambda t: -(t.risk_score or 0)):
        for reason in txn.reasons or []:
            code = reason.get("code", "")
            entry = found.setdefault(
                code,
                {"code": code, "label": reason_label(code), "count": 0, "detail": ""},
            )
            entry["count"] += 1
            entry["detail"] = entry["detail"] or reason.get("detail", "")
    return sorted(found.values(), key=lambda e: -e["count"])


def _closure_request(case: Case, timeline: list) -> dict | None:
    """What the approver decides on: the proposed disposition, who asked, when and their closing
    note (from the latest ``case.request_closure`` event; older events hold it in ``note``)."""
    if case.status != Case.Status.PENDING_APPROVAL:
        return None
    event = next((e for e in reversed(timeline) if e.action == "case.request_closure"), None)
    after = (event.after or {}) if event else {}
    return {
        "disposition": case.get_proposed_disposition_display(),
        "by": case.closure_requested_by,
        "at": event.created_at if event else None,
        "note": after.get("closing_note", event.note if event else ""),
    }


def _optional_template(name: str) -> str | None:
    try:
        get_template(name)
    except TemplateDoesNotExist:
        return None
    return name


def _detail_context(request, case: Case) -> dict:
    user = request.user
    transactions = _flagged_first(
        list(case.transactions.select_related("model_version").order_by("occurred_at", "id"))
    )
    on_case = {t.pk for t in transactions}
    history = case_account_history(case=case)
    for txn in history:
        txn.on_this_case = txn.pk in on_case
    page_actions = actions_on(PAGE)
    forms = {a.slug: action_form(a, initial=_initial(a, case)) for a in page_actions}
    forms["attach"] = AttachmentForm()
    available = case_available_actions(user=user, case=case)
    timeline = list(case_timeline(user=user, case=case))
    times = [t.occurred_at for t in transactions if t.occurred_at is not None]
    currencies = {t.currency for t in transactions}
    shown = len(transactions) if request.GET.get("txns") == "all" else TXN_ROWS_SHOWN
    shown = min(shown, len(transactions))
    return {
        "case": case,
        "transactions": transactions,
        "txn_summary": {
            "count": len(transactions),
            "flagged": sum(t.flagged for t in transactions),
            "total": sum((t.amount for t in transactions), Decimal(0)),
            "currency": currencies.pop() if len(currencies) == 1 else "",
            "first": min(times, default=None),
            "last": max(times, default=None),
        },
        "txn_rows_shown": shown,
        "txn_hidden": len(transactions) - shown,
        "reasons": _reason_summary(transactions),
        "closure_request": _closure_request(case, timeline),
        "history": history,
        "linked": case_linked(case=case),
        "notes": case_notes(user=user, case=case),
        "attachments": case_attachments(user=user, case=case),
        "tags": list(case.tags.all()),
        "timeline": timeline,
        "actions": available,
        "generic_actions": [
            a for a in page_actions if a.slug not in HAND_LAID_OUT and a.code in available
        ],
        "can_download": user_can(user, "case.attachment_download", case),
        "max_upload": settings.ATTACHMENT_MAX_BYTES,
        "can_assign_others": bool(user_roles(user) & {SUPERVISOR, ADMIN}),
        "forms": forms,
        "graph_window_days": settings.CASE_GRAPH_WINDOW_DAYS,
        "account_actions_template": _optional_template(ACCOUNT_ACTIONS_TEMPLATE),
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
    spec = case_action_spec(action)
    if spec is None:
        raise Http404("Unknown action.")
    case = _get_case_or_404(request, pk)
    form = action_form(spec, request.POST)
    if not form.is_valid():
        errors = "; ".join(
            f"{form.fields[f].label or f}: {' '.join(e)}" if f in form.fields else " ".join(e)
            for f, e in form.errors.items()
        )
        return _render_failure(request, case, action, form, f"Please correct: {errors}", 400)
    try:
        result = spec.run(case=case, actor=request.user, data=form.cleaned_data)
    except ApplicationError as exc:
        case.refresh_from_db()
        return _render_failure(request, case, action, form, exc.message, exc.status_code)
    messages.success(request, spec.done(result, form.cleaned_data))
    # No fragment: the page's script puts the reader back where they were (app.js).
    return redirect("case-detail", pk=case.pk)


def case_action_spec(slug: str):
    """The workflow action behind ``/cases/<id>/<slug>/`` (page actions only)."""
    spec = workflow.case_action(slug)
    return spec if spec is not None and spec.per_case and PAGE in spec.surfaces else None


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
    return redirect("case-detail", pk=case.pk)


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


def _bulk_message(slug: str, data: dict, results: list) -> str:
    n = len(data["cases"])
    if slug == "assign":
        return f"Assigned {n} case(s) to {data['assignee'].get_username()}."
    if slug == "tag":
        return f"Tagged {n} case(s) '{data['tag'].strip().lower()}'."
    pending = sum(c.status == Case.Status.PENDING_APPROVAL for c in results)
    return f"Closed {len(results) - pending} case(s) as legitimate." + (
        f" {pending} need a supervisor's approval (four-eyes)." if pending else ""
    )


@require_POST
@allowed("case.bulk")
def case_bulk(request):
    """``POST /cases/bulk/``: assign, tag or close-as-legitimate many cases (all or nothing)."""
    query = QueryDict(request.POST.get("return_query", ""))
    form = BulkForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        bulk = BULK_BY_SLUG[data["action"]]
        ids = data["cases"]
        try:
            results = services.cases_bulk_run(
                slug=bulk.slug, case_ids=ids, actor=request.user, data=data
            )
        except ApplicationError as exc:
            status, error = exc.status_code, exc.message
        else:
            messages.success(request, _bulk_message(bulk.slug, data, results))
            return HttpResponseRedirect(reverse("case-queue") + ("?" + query.urlencode()))
    else:
        status = 400
        error = " ".join(e for errs in form.errors.values() for e in errs)
    messages.error(request, error)
    context = _queue_context(request, query)
    context["bulk_form"] = form
    return render(request, "cases/queue.html", context, status=status)
