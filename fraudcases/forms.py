"""Input forms of the workspace pages. They parse and validate input; services decide."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm

from .models import Case
from .selectors import CASE_SORTS, SLA_STATES, users_who_work_cases

CASE_AGE_LABELS = {
    "lt1d": "Under 1 day",
    "1to3d": "1–3 days",
    "3to7d": "3–7 days",
    "gt7d": "Over 7 days",
}
SLA_LABELS = {"breached": "Breached", "due_soon": "Due soon", "ok": "OK"}


class QueueFilterForm(forms.Form):
    status = forms.ChoiceField(
        required=False,
        choices=[("open", "Open (any)"), ("", "All"), *Case.Status.choices],
        initial="open",
    )
    priority = forms.ChoiceField(required=False, choices=[("", "Any"), *Case.Priority.choices])
    assignee = forms.CharField(required=False, max_length=150)
    risk_min = forms.IntegerField(required=False, min_value=0, max_value=100, label="Risk ≥")
    risk_max = forms.IntegerField(required=False, min_value=0, max_value=100, label="Risk ≤")
    age = forms.ChoiceField(
        required=False, choices=[("", "Any"), *((k, label) for k, label in CASE_AGE_LABELS.items())]
    )
    sla = forms.ChoiceField(
        required=False,
        label="SLA",
        choices=[("", "Any"), *((k, SLA_LABELS[k]) for k in SLA_STATES)],
    )
    tag = forms.CharField(required=False, max_length=50)
    account_id = forms.CharField(required=False, max_length=100, label="Account")
    q = forms.CharField(required=False, max_length=100, label="Search")
    sort = forms.ChoiceField(
        required=False, choices=[("", "Priority")] + [(k, k) for k in CASE_SORTS]
    )

    def clean(self):
        data = super().clean()
        lo, hi = data.get("risk_min"), data.get("risk_max")
        if lo is not None and hi is not None and lo > hi:
            self.add_error("risk_max", "Must be at least the minimum risk.")
        return data

    def filters(self) -> dict:
        """Cleaned filters; the default view is open cases."""
        if not self.is_bound:
            return {"status": "open"}
        data = dict(self.cleaned_data) if self.is_valid() else {"status": "open"}
        if "status" not in self.data:
            data["status"] = "open"
        return data


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=10_000)


class NoteForm(forms.Form):
    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}), max_length=10_000, label="Note (markdown)"
    )


class CloseForm(forms.Form):
    disposition = forms.ChoiceField(choices=[("", "Choose…"), *Case.Disposition.choices])
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=10_000)


class ApproveForm(forms.Form):
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), max_length=10_000, required=False
    )


class RejectForm(forms.Form):
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=10_000)


class AssignForm(forms.Form):
    assignee = forms.ModelChoiceField(
        queryset=get_user_model().objects.none(),
        required=False,
        empty_label="— unassigned —",
        to_field_name="username",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = users_who_work_cases()


class TagForm(forms.Form):
    add = forms.CharField(required=False, max_length=200, help_text="Comma-separated")
    remove = forms.CharField(required=False, max_length=50)

    def clean(self):
        data = super().clean()
        data["add_list"] = [t for t in (data.get("add") or "").split(",") if t.strip()]
        data["remove_list"] = [data["remove"]] if data.get("remove") else []
        if not data["add_list"] and not data["remove_list"]:
            raise forms.ValidationError("Name a tag to add or remove.")
        return data


class AttachmentForm(forms.Form):
    file = forms.FileField()

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > settings.ATTACHMENT_MAX_BYTES:
            raise forms.ValidationError(
                f"The file is {upload.size:,} bytes; the limit is "
                f"{settings.ATTACHMENT_MAX_BYTES:,} bytes."
            )
        return upload


class BulkForm(forms.Form):
    ACTIONS = [
        ("assign", "Assign to…"),
        ("tag", "Tag with…"),
        ("close_legitimate", "Close as legitimate"),
    ]
    action = forms.ChoiceField(choices=ACTIONS)
    cases = forms.TypedMultipleChoiceField(
        coerce=int, choices=[], error_messages={"required": "Select at least one case."}
    )
    assignee = forms.ModelChoiceField(
        queryset=get_user_model().objects.none(), required=False, to_field_name="username"
    )
    tag = forms.CharField(required=False, max_length=50)
    note = forms.CharField(required=False, max_length=10_000, widget=forms.Textarea)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = users_who_work_cases()
        # Any id is accepted here; the service checks each case exists and may be changed.
        self.fields["cases"].valid_value = lambda value: str(value).isdigit()

    def clean(self):
        data = super().clean()
        action = data.get("action")
        if action == "assign" and not data.get("assignee"):
            self.add_error("assignee", "Choose who gets the cases.")
        if action == "tag" and not (data.get("tag") or "").strip():
            self.add_error("tag", "Name the tag.")
        if action == "close_legitimate" and not (data.get("note") or "").strip():
            self.add_error("note", "A closing note is required.")
        return data


class AuditFilterForm(forms.Form):
    action = forms.CharField(required=False, max_length=64)
    actor = forms.CharField(required=False, max_length=150)
    case = forms.IntegerField(required=False, min_value=1, label="Case #")
    object_type = forms.CharField(required=False, max_length=64, label="Object type")
    object_id = forms.CharField(required=False, max_length=64, label="Object id")
    request_id = forms.CharField(required=False, max_length=64, label="Request id")
    since = forms.DateTimeField(required=False, widget=forms.DateTimeInput(attrs={"type": "date"}))
    until = forms.DateTimeField(required=False, widget=forms.DateTimeInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            self.add_error("until", "Must not be before 'since'.")
        if (
            until
            and until.hour == 0
            and until.minute == 0
            and "T" not in self.data.get("until", "")
        ):
            # A bare date means "through the end of that day".
            data["until"] = until.replace(hour=23, minute=59, second=59)
        return data


class LockoutAuthenticationForm(AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        "locked": (
            "Too many failed sign-ins for this username from your address. Try again after "
            "%(until)s UTC (in about %(minutes)d minutes)."
        ),
    }
