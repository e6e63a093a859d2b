"""The case page's account-action forms. They parse input; the service decides (kind,
merchant on the case, reason)."""

from __future__ import annotations

from django import forms

from ..models import AccountAction
from ..workflow import TEXT_MAX


class AccountActionRequestForm(forms.Form):
    """Request an account action: a kind, the merchant for an allow-list, and why."""

    kind = forms.ChoiceField(choices=AccountAction.Kind.choices, label="Action")
    merchant_id = forms.CharField(required=False, max_length=100, label="Merchant")
    reason = forms.CharField(
        widget=forms.Textarea, max_length=TEXT_MAX, label="Reason for the request"
    )


class AccountActionDecisionForm(forms.Form):
    """Approve (note optional) or reject (note required: the service says so)."""

    note = forms.CharField(widget=forms.Textarea, required=False, max_length=TEXT_MAX)
