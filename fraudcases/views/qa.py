"""``/qa/``: the quality-review queue of sampled closures, and reviewing one."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from core.errors import ApplicationError
from core.permissions import user_can

from ..quality.forms import QAReviewForm
from ..quality.selectors import QUEUE_STATES, qa_review_get, qa_review_list
from ..quality.services import qa_review_submit
from ..selectors import case_timeline
from .common import allowed


@require_http_methods(["GET"])
@allowed("qa.view")
def qa_queue(request):
    """Sampled closures waiting for review (``?state=done|overturned|all`` for the others)."""
    state = request.GET.get("state", "pending")
    status = 200
    if state not in QUEUE_STATES:
        state, status = "pending", 400
    reviews = qa_review_list(user=request.user, state=state)
    page = Paginator(reviews, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "qa/queue.html",
        {"page": page, "state": state, "states": QUEUE_STATES},
        status=status,
    )


@require_http_methods(["GET", "POST"])
@allowed("qa.view")
def qa_review(request, pk: int):
    """One sampled closure: the case's closure, notes and timeline, and the rubric form."""
    review = qa_review_get(user=request.user, review_id=pk)
    if review is None:
        raise Http404("No such review.")
    form = QAReviewForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if not user_can(request.user, "qa.review", review.case):
            messages.error(request, "Your role does not allow reviewing closures.")
            status = 403
        elif not form.is_valid():
            messages.error(request, "Please answer every question of the rubric.")
            status = 400
        else:
            try:
                qa_review_submit(review=review, actor=request.user, **form.service_kwargs())
            except ApplicationError as exc:
                messages.error(request, exc.message)
                for field, errors in (exc.extra or {}).items():
                    if field in form.fields and isinstance(errors, list):
                        for error in errors:
                            form.add_error(field, error)
                status = exc.status_code
                review.refresh_from_db()
            else:
                done = (
                    "Closure overturned: the case is reopened and its label corrected."
                    if form.cleaned_data["verdict"] == "overturn"
                    else "Review recorded."
                )
                messages.success(request, done)
                return redirect(reverse("qa-queue"))
    case = review.case
    return render(
        request,
        "qa/review.html",
        {
            "review": review,
            "case": case,
            "form": form,
            "notes": case.notes.select_related("author").order_by("created_at"),
            "timeline": case_timeline(user=request.user, case=case),
            "can_review": review.is_pending and user_can(request.user, "qa.review", case),
        },
        status=status,
    )
