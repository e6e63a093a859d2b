"""``/alerts/``: channels with their health, recent deliveries, routing rules with a preview.

Thin: check the permission, read through selectors, write through services, render. Every
write is a POST form (CSRF) handled by an audited service; supervisors and admins read the page,
resend and send test messages, admins change channels and rules.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.errors import ApplicationError
from core.permissions import user_can
from fraudcases.views.common import allowed

from .forms import AlertRuleForm, ChannelForm, DeliveryFilterForm, PauseForm
from .models import AlertRule, Channel
from .routing import rule_matches
from .selectors import (
    case_facts_recent,
    channel_health,
    channels_for_user,
    deliveries_for_user,
    delivery_get,
    rule_preview,
    rules_for_user,
)
from .services import (
    alert_rule_create,
    alert_rule_update,
    channel_create,
    channel_pause,
    channel_resume,
    channel_send_test,
    channel_update,
    delivery_resend,
)
from .services.delivery import RESENDABLE
from .services.rules import RULE_FIELDS


def _require(request, action: str) -> None:
    if not user_can(request.user, action):
        raise PermissionDenied(f"Your role does not allow '{action}'.")


def _form_errors(form, exc: ApplicationError) -> None:
    for field, errors in (exc.extra or {}).items():
        for error in errors if isinstance(errors, list) else [errors]:
            form.add_error(field if field in form.fields else None, str(error))
    if not exc.extra:
        form.add_error(None, exc.message)


@allowed("alerts.view")
@require_GET
def alerts_home(request):
    """Channels and their health, recent deliveries (filtered), routing rules with what each
    would have routed in the last day."""
    channels = channels_for_user(user=request.user)
    filter_form = DeliveryFilterForm(request.GET or None, channels=channels)
    bad_filter = filter_form.is_bound and not filter_form.is_valid()
    deliveries = deliveries_for_user(user=request.user, filters=filter_form.filters())
    if bad_filter:
        deliveries = deliveries.none()
    page = Paginator(deliveries, 50).get_page(request.GET.get("page"))
    rules = list(rules_for_user(user=request.user))
    facts, truncated = case_facts_recent(user=request.user, hours=24)
    rule_rows = [
        {"rule": r, "matches": sum(1 for f in facts.values() if rule_matches(r, f))} for r in rules
    ]
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "alerts/home.html",
        {
            "health": channel_health(user=request.user),
            "filter_form": filter_form,
            "page": page,
            "query": query.urlencode(),
            "rule_rows": rule_rows,
            "scanned": len(facts),
            "truncated": truncated,
            "can_manage": user_can(request.user, "alerts.manage"),
            "can_resend": user_can(request.user, "alerts.resend"),
        },
        status=400 if bad_filter else 200,
    )


def _channel(request, pk: int) -> Channel:
    channel = channels_for_user(user=request.user).filter(pk=pk).first()
    if channel is None:
        raise Http404("No such channel.")
    return channel


def _channel_form_page(request, channel: Channel | None):
    _require(request, "alerts.manage")
    form = ChannelForm(request.POST if request.method == "POST" else None, channel=channel)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        secret = data.pop("secret") or None
        secret_env = (data.pop("secret_env") or "").strip()
        try:
            if channel is None:
                saved = channel_create(
                    actor=request.user, secret=secret or "", secret_env=secret_env, **data
                )
                messages.success(request, f"Channel '{saved.name}' created.")
            else:
                data.pop("kind", None)
                saved = channel_update(
                    actor=request.user,
                    channel=channel,
                    secret=secret,
                    secret_env=secret_env,
                    **data,
                )
                messages.success(request, f"Channel '{saved.name}' saved.")
            return redirect("alerts-home")
        except ApplicationError as exc:
            _form_errors(form, exc)
    status = 400 if request.method == "POST" else 200
    return render(
        request, "alerts/channel_form.html", {"form": form, "channel": channel}, status=status
    )


@allowed("alerts.manage")
@require_http_methods(["GET", "POST"])
def channel_create_view(request):
    """``/alerts/channels/new/``"""
    return _channel_form_page(request, None)


@allowed("alerts.manage")
@require_http_methods(["GET", "POST"])
def channel_edit_view(request, pk: int):
    """``/alerts/channels/<id>/``; also where a paused channel is paused or resumed."""
    return _channel_form_page(request, _channel(request, pk))


def _post_action(request, run, success: str):
    try:
        result = run()
        messages.success(request, success.format(result=result))
    except ApplicationError as exc:
        messages.error(request, exc.message)
    target = request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = reverse("alerts-home")
    return redirect(target)


@allowed("alerts.resend")
@require_POST
def channel_test_view(request, pk: int):
    """Queue a test message to a channel."""
    channel = _channel(request, pk)
    return _post_action(
        request,
        lambda: channel_send_test(actor=request.user, channel=channel),
        f"Test message to '{channel.name}' queued; it appears under recent deliveries.",
    )


@allowed("alerts.manage")
@require_POST
def channel_pause_view(request, pk: int):
    """Pause a channel (its new deliveries are held)."""
    channel = _channel(request, pk)
    form = PauseForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Say why the channel is paused.")
        return redirect("alerts-home")
    return _post_action(
        request,
        lambda: channel_pause(
            actor=request.user, channel=channel, reason=form.cleaned_data["reason"]
        ),
        f"Channel '{channel.name}' paused.",
    )


@allowed("alerts.manage")
@require_POST
def channel_resume_view(request, pk: int):
    """Resume a paused channel and send what was held."""
    channel = _channel(request, pk)
    return _post_action(
        request,
        lambda: channel_resume(actor=request.user, channel=channel),
        f"Channel '{channel.name}' resumed; {{result}} held deliveries queued.",
    )


def _rule(request, pk: int) -> AlertRule:
    rule = rules_for_user(user=request.user).filter(pk=pk).first()
    if rule is None:
        raise Http404("No such routing rule.")
    return rule


def _destinations(channels: list[Channel]) -> list[str]:
    """How a channel is named in "would have gone to …": a Slack channel by its label."""
    return [c.target if c.kind == Channel.Kind.SLACK else c.name for c in channels]


def _rule_form_page(request, rule: AlertRule | None):
    _require(request, "alerts.manage")
    channels = channels_for_user(user=request.user)
    form = AlertRuleForm(
        request.POST if request.method == "POST" else None, rule=rule, channels=channels
    )
    preview = None
    if request.method == "POST" and form.is_valid():
        data = {k: form.cleaned_data[k] for k in RULE_FIELDS}
        data["queue"] = data["queue"] or ""
        chosen = list(form.cleaned_data["channels"])
        if "preview" in request.POST:
            preview = rule_preview(
                user=request.user,
                rule=SimpleNamespace(**data),
                channel_names=_destinations(chosen),
            )
        else:
            try:
                if rule is None:
                    saved = alert_rule_create(actor=request.user, channels=chosen, **data)
                    messages.success(request, f"Routing rule '{saved.name}' created.")
                else:
                    saved = alert_rule_update(
                        actor=request.user, rule=rule, channels=chosen, **data
                    )
                    messages.success(request, f"Routing rule '{saved.name}' saved.")
                return redirect("alerts-home")
            except ApplicationError as exc:
                _form_errors(form, exc)
    elif request.method == "GET" and rule is not None:
        chosen = list(rule.channels.all())
        preview = rule_preview(
            user=request.user,
            rule=rule,
            channel_names=_destinations(chosen),
        )
    status = 400 if request.method == "POST" and form.errors else 200
    return render(
        request,
        "alerts/rule_form.html",
        {"form": form, "rule": rule, "preview": preview},
        status=status,
    )


@allowed("alerts.manage")
@require_http_methods(["GET", "POST"])
def rule_create_view(request):
    """``/alerts/rules/new/``: write a routing rule, preview it on the last day, save it."""
    return _rule_form_page(request, None)


@allowed("alerts.manage")
@require_http_methods(["GET", "POST"])
def rule_edit_view(request, pk: int):
    """``/alerts/rules/<id>/``"""
    return _rule_form_page(request, _rule(request, pk))


@allowed("alerts.view")
@require_GET
def delivery_detail_view(request, pk: int):
    """One delivery: its attempts (status, latency, error, response) and what it batched."""
    delivery = delivery_get(user=request.user, delivery_id=pk)
    if delivery is None:
        raise Http404("No such delivery.")
    return render(
        request,
        "alerts/delivery_detail.html",
        {
            "d": delivery,
            "attempts": list(delivery.attempt_log.all()),
            "batched": list(delivery.batched.all()),
            "can_resend": user_can(request.user, "alerts.resend"),
            "resendable": delivery.status in RESENDABLE,
            "payload_json": json.dumps(delivery.payload, indent=2) if delivery.payload else "",
        },
    )


@allowed("alerts.resend")
@require_POST
def delivery_resend_view(request, pk: int):
    """Send a dead, held or sent delivery again (same delivery id)."""
    delivery = delivery_get(user=request.user, delivery_id=pk)
    if delivery is None:
        raise Http404("No such delivery.")
    return _post_action(
        request,
        lambda: delivery_resend(actor=request.user, delivery=delivery),
        "Delivery queued again.",
    )
