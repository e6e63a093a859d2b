"""Forms of the registry and rules pages (input parsing only; rules live in services)."""

from __future__ import annotations

from django import forms
from django.conf import settings

from .engine.rules import RAW_FIELDS, RuleError, allowed_names, compile_rule
from .models import Rule


class RuleForm(forms.ModelForm):
    """Create or edit a detection rule, or preview it on recent transactions."""

    preview_limit = forms.IntegerField(
        label="Test on the last N scored transactions",
        min_value=1,
        max_value=settings.RULE_PREVIEW_MAX,
        initial=1000,
        required=False,
    )

    class Meta:
        model = Rule
        fields = ("name", "expression", "risk_floor", "reason", "is_active")
        widgets = {
            "expression": forms.Textarea(attrs={"rows": 3, "cols": 80, "spellcheck": "false"}),
        }
        labels = {
            "risk_floor": "Risk floor (0-100)",
            "reason": "Reason shown to investigators",
            "is_active": "Active",
        }
        help_texts = {
            "expression": "e.g. amount > 10000 and new_country_30d == 1",
            "risk_floor": "When the rule fires, the score is raised to at least this.",
            "reason": "Plain words; the expression is shown when empty.",
        }

    def __init__(self, *args, extra_features=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.extra_features = list(extra_features)
        self.fields["risk_floor"].widget.attrs.update(min=0, max=100)

    def clean_expression(self) -> str:
        expression = self.cleaned_data["expression"]
        try:
            return compile_rule(expression, extra_features=self.extra_features).expression
        except RuleError as exc:
            raise forms.ValidationError(exc.message) from None

    def clean_risk_floor(self) -> int:
        value = self.cleaned_data["risk_floor"]
        if not 0 <= value <= 100:
            raise forms.ValidationError("The risk floor is a score from 0 to 100.")
        return value

    def names_help(self) -> dict[str, list[str]]:
        names = allowed_names(self.extra_features)
        return {
            "fields": [n for n in names if n in RAW_FIELDS],
            "features": sorted(n for n in names if n not in RAW_FIELDS),
        }


class ConfirmForm(forms.Form):
    """An optional note recorded with a lifecycle action."""

    note = forms.CharField(max_length=500, required=False, label="Note for the audit log")
