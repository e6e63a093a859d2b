"""``/cases/duty/``: a person's queues and whether they take auto-assigned cases now."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from core.errors import ApplicationError

from ..routing_selectors import duty_get, my_queues
from ..services.routing import duty_update
from .common import allowed


class DutyForm(forms.Form):
    """Off duty or back on duty, with an optional note ("lunch", "training until 14:00")."""

    off_duty = forms.TypedChoiceField(
        choices=[("1", "Off duty"), ("0", "On duty")], coerce=lambda v: v == "1"
    )
    note = forms.CharField(max_length=200, required=False)


@require_http_methods(["GET", "POST"])
@allowed("duty.set_own")
def my_duty(request):
    """GET shows the person's queues (with what waits in each) and duty state; POST sets their
    own off-duty flag (audited ``duty.update``). Absence is recorded by supervisors and admins
    (Django admin, "Investigator duty")."""
    form = DutyForm(request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            try:
                duty = duty_update(
                    actor=request.user,
                    user=request.user,
                    off_duty=form.cleaned_data["off_duty"],
                    note=form.cleaned_data["note"],
                )
            except ApplicationError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(request, f"You are {duty.state} now.")
                return redirect("case-duty")
        status = 400
    else:
        status = 200
    context = {
        "form": form,
        "duty": duty_get(user=request.user),
        "queues": my_queues(user=request.user),
    }
    return render(request, "cases/duty.html", context, status=status)
