"""Account actions on the case page: the panel (``templates/cases/_account_actions.html``),
requesting one, and a supervisor's approval or rejection. Thin: a form, one service call."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from core.errors import ApplicationError
from core.permissions import refusal

from ..account_actions.forms import AccountActionDecisionForm, AccountActionRequestForm
from ..account_actions.selectors import account_action_get
from ..models import Case
from ..services.account_actions import (
    account_action_approve,
    account_action_reject,
    account_action_request,
)
from .cases import _detail_context, _get_case_or_404
from .common import allowed

PANEL = "cases/_account_actions.html"


def _back(case: Case):
    return redirect(reverse("case-detail", args=[case.pk]) + "#account-actions")


def _refused(request, case: Case, form, message: str, status: int):
    """The case page again, the panel open with the form as it was sent and why it failed."""
    context = _detail_context(request, case)
    context.update(account_action_form=form, account_action_error=message)
    messages.error(request, message)
    return render(request, "cases/detail.html", context, status=status)


def _form_message(form) -> str:
    return "Please correct: " + "; ".join(
        f"{form.fields[f].label or f}: {' '.join(e)}" if f in form.fields else " ".join(e)
        for f, e in form.errors.items()
    )


@require_http_methods(["GET", "POST"])
@allowed("account_action.view")
def case_account_actions(request, pk: int):
    """``GET /cases/<id>/account-actions/``: the panel alone (to refresh it in place);
    ``POST``: request an account action (kind, merchant for an allow-list, reason)."""
    case = _get_case_or_404(request, pk)
    if request.method == "GET":
        return render(request, PANEL, {"case": case})
    reason = refusal(request.user, "account_action.request")
    if reason is not None:
        raise PermissionDenied(reason)
    form = AccountActionRequestForm(request.POST)
    if not form.is_valid():
        return _refused(request, case, form, _form_message(form), 400)
    try:
        action = account_action_request(case=case, actor=request.user, **form.cleaned_data)
    except ApplicationError as exc:
        for field, errors in exc.extra.items():
            if field in form.fields:
                for error in errors:
                    form.add_error(field, error)
        return _refused(request, case, form, exc.message, exc.status_code)
    if action.status == action.Status.AWAITING_APPROVAL:
        messages.success(
            request, f"{action.get_kind_display()} requested: a supervisor must approve it."
        )
    else:
        messages.success(request, f"{action.get_kind_display()} sent to core banking.")
    return _back(case)


def _decide(request, pk: int, action_id: int, *, approve: bool):
    case = _get_case_or_404(request, pk)
    action = account_action_get(user=request.user, case=case, action_id=action_id)
    if action is None:
        raise Http404("No such account action on this case.")
    form = AccountActionDecisionForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""
    try:
        if approve:
            account_action_approve(action=action, actor=request.user, note=note)
        else:
            account_action_reject(action=action, actor=request.user, note=note)
    except ApplicationError as exc:
        return _refused(request, case, None, exc.message, exc.status_code)
    done = "approved: it goes to core banking now" if approve else "rejected: it is not sent"
    messages.success(request, f"{action.get_kind_display()} {done}.")
    return _back(case)


@require_POST
@allowed("account_action.approve")
def account_action_approve_view(request, pk: int, action_id: int):
    """``POST /cases/<id>/account-actions/<action id>/approve/`` (note optional)."""
    return _decide(request, pk, action_id, approve=True)


@require_POST
@allowed("account_action.reject")
def account_action_reject_view(request, pk: int, action_id: int):
    """``POST /cases/<id>/account-actions/<action id>/reject/`` (note required)."""
    return _decide(request, pk, action_id, approve=False)
