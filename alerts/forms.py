"""Forms of the /alerts/ pages: input parsing only; the rules live in the services."""

from __future__ import annotations

from django import forms
from django.conf import settings

from fraudcases.models import Case, CaseQueue
from scoring.engine.explain import REASON_LABELS, reason_label
from scoring.models import RiskLevel, Rule

from .models import SUBSCRIBABLE_EVENTS, Channel, Delivery, EventType


class ChannelForm(forms.Form):
    """Create or edit a channel. The secret field is never filled in from the stored value."""

    name = forms.CharField(max_length=100)
    kind = forms.ChoiceField(choices=Channel.Kind.choices)
    target = forms.CharField(
        max_length=500,
        label="Target",
        help_text="Email: addresses, comma-separated. Signed webhook: the URL. Slack: the "
        "channel's name (e.g. #fraud-critical) — its webhook URL goes in the secret.",
    )
    secret = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        label="Secret",
        help_text="Webhook: the signing secret. Slack: the incoming-webhook URL. Stored "
        "encrypted, never shown again; leave empty to keep the current one.",
    )
    secret_env = forms.CharField(
        required=False,
        max_length=100,
        label="…or environment variable",
        help_text="Name of an ALERTS_* variable holding the secret on the workers instead.",
    )
    events = forms.MultipleChoiceField(
        choices=[(e.value, e.label) for e in SUBSCRIBABLE_EVENTS],
        widget=forms.CheckboxSelectMultiple,
        label="Events",
    )
    is_active = forms.BooleanField(required=False, initial=True, label="Active")
    quiet_start = forms.TimeField(required=False, label="Quiet hours from", help_text="HH:MM")
    quiet_end = forms.TimeField(required=False, label="until", help_text="HH:MM")
    quiet_timezone = forms.CharField(max_length=64, initial="UTC", label="in time zone")
    critical_overrides_quiet = forms.BooleanField(
        required=False, initial=True, label="Critical cases override quiet hours"
    )
    update_throttle_minutes = forms.IntegerField(
        min_value=0,
        max_value=1440,
        initial=settings.ALERTS_UPDATE_THROTTLE_MINUTES,
        label="At most one update per open case every (minutes)",
    )

    def __init__(self, *args, channel: Channel | None = None, **kwargs):
        if channel is not None and not kwargs.get("initial"):
            kwargs["initial"] = {
                "name": channel.name,
                "kind": channel.kind,
                "target": channel.target,
                "secret_env": channel.secret_env,
                "events": channel.events,
                "is_active": channel.is_active,
                "quiet_start": channel.quiet_start,
                "quiet_end": channel.quiet_end,
                "quiet_timezone": channel.quiet_timezone,
                "critical_overrides_quiet": channel.critical_overrides_quiet,
                "update_throttle_minutes": channel.update_throttle_minutes,
            }
        super().__init__(*args, **kwargs)
        self.channel = channel
        if channel is not None:
            self.fields["kind"].disabled = True
            self.fields["kind"].help_text = "A channel keeps its kind; add a new one instead."
        else:
            self.fields["events"].initial = [e.value for e in SUBSCRIBABLE_EVENTS]


class AlertRuleForm(forms.Form):
    """Create or edit a routing rule, or preview it on the last day's cases."""

    name = forms.CharField(max_length=100)
    description = forms.CharField(max_length=300, required=False)
    channels = forms.ModelMultipleChoiceField(
        queryset=Channel.objects.none(), widget=forms.CheckboxSelectMultiple
    )
    min_risk_level = forms.ChoiceField(
        choices=RiskLevel.choices, initial=RiskLevel.HIGH, label="Risk level at least"
    )
    priorities = forms.MultipleChoiceField(
        choices=Case.Priority.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: any priority.",
    )
    reason_codes = forms.MultipleChoiceField(
        choices=[],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Detection patterns (reasons)",
        help_text="None ticked: any. Otherwise one of the case's transactions has one of them.",
    )
    fired_rules = forms.MultipleChoiceField(
        choices=[],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Detection rules that fired",
        help_text="None ticked: any.",
    )
    min_amount = forms.DecimalField(
        required=False,
        min_value=0,
        decimal_places=2,
        max_digits=18,
        label="Largest transaction at least",
    )
    queue = forms.ChoiceField(required=False, label="Case queue")
    is_active = forms.BooleanField(required=False, initial=True, label="Active")

    def __init__(self, *args, rule=None, channels=None, **kwargs):
        if rule is not None and not kwargs.get("initial"):
            kwargs["initial"] = {
                "name": rule.name,
                "description": rule.description,
                "channels": list(rule.channels.all()),
                "min_risk_level": rule.min_risk_level,
                "priorities": rule.priorities,
                "reason_codes": rule.reason_codes,
                "fired_rules": rule.fired_rules,
                "min_amount": rule.min_amount,
                "queue": rule.queue,
                "is_active": rule.is_active,
            }
        super().__init__(*args, **kwargs)
        self.fields["channels"].queryset = channels if channels is not None else Channel.objects
        self.fields["reason_codes"].choices = [(c, reason_label(c)) for c in REASON_LABELS]
        self.fields["fired_rules"].choices = [
            (n, n) for n in Rule.objects.order_by("name").values_list("name", flat=True)
        ]
        names = CaseQueue.objects.order_by("position", "name").values_list("name", flat=True)
        self.fields["queue"].choices = [("", "any queue"), *((n, n) for n in names)]


class DeliveryFilterForm(forms.Form):
    """Filters of the recent deliveries table."""

    channel = forms.ModelChoiceField(
        queryset=Channel.objects.none(), required=False, empty_label="any"
    )
    status = forms.ChoiceField(choices=[("", "any"), *Delivery.Status.choices], required=False)
    event_type = forms.ChoiceField(
        choices=[("", "any"), *EventType.choices], required=False, label="Event"
    )
    case = forms.IntegerField(required=False, min_value=1, label="Case #")

    def __init__(self, *args, channels=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["channel"].queryset = channels if channels is not None else Channel.objects

    def filters(self) -> dict:
        if not self.is_valid():
            return {}
        data = self.cleaned_data
        return {
            "channel": data["channel"].pk if data.get("channel") else None,
            "status": data.get("status") or None,
            "event_type": data.get("event_type") or None,
            "case": data.get("case"),
        }


class PauseForm(forms.Form):
    """Why a channel is paused by hand."""

    reason = forms.CharField(max_length=500)
