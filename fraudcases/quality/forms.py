"""The reviewer's form: the rubric, the verdict, a corrected disposition and a comment."""

from __future__ import annotations

from django import forms

from ..models import Case, QAReview

YES_NO = [("yes", "Yes"), ("no", "No")]


class QAReviewForm(forms.Form):
    evidence_reviewed = forms.ChoiceField(
        choices=YES_NO, widget=forms.RadioSelect, label="Was the evidence reviewed?"
    )
    disposition_correct = forms.ChoiceField(
        choices=YES_NO, widget=forms.RadioSelect, label="Is the disposition right?"
    )
    note_adequate = forms.ChoiceField(
        choices=YES_NO, widget=forms.RadioSelect, label="Is the closing note adequate?"
    )
    verdict = forms.ChoiceField(
        choices=QAReview.Verdict.choices, widget=forms.RadioSelect, label="Verdict"
    )
    corrected_disposition = forms.ChoiceField(
        choices=[("", "—"), *((d, Case.Disposition(d).label) for d in Case.CLOSING_DISPOSITIONS)],
        required=False,
        label="Corrected disposition (overturn only)",
    )
    comment = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        max_length=10_000,
        label="Comment (required to overturn)",
    )

    def service_kwargs(self) -> dict:
        d = self.cleaned_data
        return {
            "evidence_reviewed": d["evidence_reviewed"] == "yes",
            "disposition_correct": d["disposition_correct"] == "yes",
            "note_adequate": d["note_adequate"] == "yes",
            "verdict": d["verdict"],
            "corrected_disposition": d.get("corrected_disposition") or "",
            "comment": d.get("comment") or "",
        }
