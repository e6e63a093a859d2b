"""Input forms of the workspace pages. They parse and validate input; services decide."""

from __future__ import annotations

from functools import cache

from django import forms
from django.conf import settings

from core.datetimes import filter_datetime_utc

from .models import Case
from .selectors import MAX_ID, users_who_work_cases
from .workflow import BULK_ACTIONS, BULK_BY_SLUG, BY_SLUG, TEXT_MAX, CaseAction, Input


def _tag_list(value: str) -> list[str]:
    return [t for t in (value or "").split(",") if t.strip()]


class TagsField(forms.CharField):
    """A comma-separated list of tag names (``mule, chargeback``) → a list."""

    def to_python(self, value):
        return _tag_list(super().to_python(value))


def input_field(spec: Input) -> forms.Field:
    """The form field for one workflow input (pages, the admin's intermediate forms, bulk)."""
    if spec.kind == "disposition":
        return forms.ChoiceField(
            label=spec.label,
            required=spec.required,
            choices=[
                ("", "Choose…"),
                *((d, Case.Disposition(d).label) for d in Case.CLOSING_DISPOSITIONS),
            ],
        )
    if spec.kind == "datetime":
        return forms.DateTimeField(
            label=spec.label,
            required=spec.required,
            help_text=spec.help,
            widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        )
    if spec.kind == "case":
        return forms.IntegerField(
            label=spec.label,
            required=spec.required,
            min_value=1,
            max_value=MAX_ID,
            help_text=spec.help,
        )
    if spec.kind == "line":
        return forms.CharField(
            label=spec.label, required=spec.required, max_length=200, help_text=spec.help
        )
    if spec.kind == "user":
        return forms.ModelChoiceField(
            label=spec.label,
            queryset=users_who_work_cases(),
            required=spec.required,
            empty_label="— unassigned —",
            to_field_name="username",
            help_text=spec.help,
        )
    if spec.kind == "tags":
        return TagsField(
            label=spec.label, required=spec.required, max_length=200, help_text=spec.help
        )
    return forms.CharField(
        label=spec.label,
        required=spec.required,
        max_length=TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=spec.help,
    )


def inputs_form_class(name: str, inputs: tuple[Input, ...]) -> type[forms.Form]:
    """A form class with one field per workflow input."""
    fields = {spec.name: input_field(spec) for spec in inputs}
    return type(name, (forms.Form,), fields)


@cache
def _action_form_class(slug: str) -> type[forms.Form]:
    action = BY_SLUG[slug]
    return inputs_form_class(f"{slug.title().replace('-', '')}Form", action.inputs)


def action_form(action: CaseAction, data=None, **kwargs) -> forms.Form:
    """The input form of a workflow action, bound to ``data`` when given. The user field's
    choices are read when the form is made (not cached with the class)."""
    form = _action_form_class(action.slug)(data, **kwargs)
    for spec in action.inputs:
        if spec.kind == "user":
            form.fields[spec.name].queryset = users_who_work_cases()
    return form


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


class ReasonForm(forms.Form):
    """A required reason (the admin's "remove note / attachment / tag" actions)."""

    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=TEXT_MAX)


class BulkForm(forms.Form):
    """The queue's bulk actions (declared in ``fraudcases.workflow.BULK_ACTIONS``)."""

    action = forms.ChoiceField(choices=[(b.slug, b.label) for b in BULK_ACTIONS])
    cases = forms.TypedMultipleChoiceField(
        coerce=int, choices=[], error_messages={"required": "Select at least one case."}
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for bulk in BULK_ACTIONS:
            for spec in bulk.inputs:
                if spec.name not in self.fields:
                    field = input_field(spec)
                    field.required = False  # required by the chosen action only (clean)
                    if isinstance(field.widget, forms.Textarea):
                        field.widget = forms.TextInput()
                    self.fields[spec.name] = field
        # Any case number is accepted here; the service checks each case exists and may be
        # changed. Numbers beyond what the database holds are a form error, not a crash.
        self.fields["cases"].valid_value = lambda value: (
            str(value).isdigit() and 0 < int(value) <= MAX_ID
        )
        self.fields["cases"].error_messages["invalid_choice"] = "%(value)s is not a case number."

    def clean(self):
        data = super().clean()
        bulk = BULK_BY_SLUG.get(data.get("action") or "")
        if bulk is None:
            return data
        for spec in bulk.inputs:
            value = data.get(spec.name)
            if value is None or (isinstance(value, str) and not value.strip()):
                article = "An" if spec.label[0].lower() in "aeiou" else "A"
                self.add_error(spec.name, f"{article} {spec.label.lower()} is required.")
        return data


class AuditFilterForm(forms.Form):
    action = forms.CharField(required=False, max_length=64)
    actor = forms.CharField(required=False, max_length=150)
    # Case ids are 64-bit: a larger number is a form error, not a database error.
    case = forms.IntegerField(required=False, min_value=1, max_value=MAX_ID, label="Case #")
    object_type = forms.CharField(required=False, max_length=64, label="Object type")
    object_id = forms.CharField(required=False, max_length=64, label="Object id")
    request_id = forms.CharField(required=False, max_length=64, label="Request id")
    since = forms.DateTimeField(required=False, widget=forms.DateTimeInput(attrs={"type": "date"}))
    until = forms.DateTimeField(required=False, widget=forms.DateTimeInput(attrs={"type": "date"}))

    def clean_since(self):
        return filter_datetime_utc(self.cleaned_data.get("since"))

    def clean_until(self):
        return filter_datetime_utc(self.cleaned_data.get("until"))

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
