"""Quality review writes: sampling closures into the queue, and submitting a review.

An overturn reopens the case through the workflow's own reopen service
(``fraudcases.services.transitions.case_reopen``: role, status and audit as on every other
path; it clears the disposition's training labels) and then labels the case's transactions with
the reviewer's corrected disposition through the label service
(``scoring.services.labels``; ``inconclusive`` labels nothing). Every step is audited.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from core.audit import PendingEvent, audit_record, audit_record_many
from core.errors import ApplicationError, ConflictError, PermissionDeniedError
from core.permissions import ensure_allowed
from scoring.services.labels import transaction_labels_from_disposition

from ..models import Case, QAReview
from ..services.transitions import case_reopen
from .policy import qa_sample_reason

SYSTEM_QA = "system:qa-sampler"
COMMENT_MAX = 10_000
V = QAReview.Verdict


def _review_snapshot(review: QAReview) -> dict:
    return {
        "verdict": review.verdict,
        "evidence_reviewed": review.evidence_reviewed,
        "disposition_correct": review.disposition_correct,
        "note_adequate": review.note_adequate,
        "corrected_disposition": review.corrected_disposition,
        "reviewer": review.reviewer.get_username() if review.reviewer_id else None,
    }


@transaction.atomic
def qa_sample_closures(
    *, since: datetime | None = None, case_ids: Iterable[int] | None = None
) -> list[QAReview]:
    """Put the closures the policy selects into the review queue (one audited ``qa.sample``
    event each) and return the new reviews.

    Looks at cases closed now whose closure is at or after ``since`` (default: the last
    ``QA_SWEEP_DAYS`` days), optionally only ``case_ids``. Idempotent: a closure is sampled
    once (a unique constraint per case and closing time), whoever runs the sweep.
    """
    since = since or timezone.now() - timedelta(days=settings.QA_SWEEP_DAYS)
    closures = Case.objects.filter(status=Case.Status.CLOSED, closed_at__gte=since)
    if case_ids is not None:
        closures = closures.filter(pk__in=list(case_ids))
    rows = list(
        closures.order_by("closed_at", "id").values(
            "id",
            "closed_at",
            "disposition",
            "risk_score",
            "closure_requested_by_id",
            "closed_by_id",
        )
    )
    if not rows:
        return []
    known = set(
        QAReview.objects.filter(case_id__in=[r["id"] for r in rows]).values_list(
            "case_id", "closed_at"
        )
    )
    created: list[QAReview] = []
    events: list[PendingEvent] = []
    for r in rows:
        if (r["id"], r["closed_at"]) in known:
            continue
        reason = qa_sample_reason(
            case_id=r["id"],
            closed_at=r["closed_at"],
            disposition=r["disposition"],
            risk_score=r["risk_score"],
        )
        if reason is None:
            continue
        review, is_new = QAReview.objects.get_or_create(
            case_id=r["id"],
            closed_at=r["closed_at"],
            defaults={
                "disposition": r["disposition"],
                "risk_score": r["risk_score"],
                "investigator_id": r["closure_requested_by_id"] or r["closed_by_id"],
                "closed_by_id": r["closed_by_id"],
                "sample_reason": reason,
            },
        )
        if not is_new:
            continue
        created.append(review)
        events.append(
            PendingEvent(
                action="qa.sample",
                actor_label=SYSTEM_QA,
                obj=review,
                case=Case(pk=r["id"]),
                after={
                    "closed_at": r["closed_at"].isoformat(),
                    "disposition": r["disposition"],
                    "risk_score": r["risk_score"],
                    "reason": reason,
                },
                note=f"Closure sampled for quality review ({QAReview.Reason(reason).label}).",
            )
        )
    audit_record_many(events=events)
    return created


def _rubric(value, name: str) -> bool:
    if not isinstance(value, bool):
        raise ApplicationError("Answer every rubric question.", {name: ["Answer yes or no."]})
    return value


@transaction.atomic
def qa_review_submit(
    *,
    review: QAReview,
    actor: AbstractBaseUser,
    evidence_reviewed: bool,
    disposition_correct: bool,
    note_adequate: bool,
    verdict: str,
    corrected_disposition: str = "",
    comment: str = "",
) -> QAReview:
    """Score a sampled closure against the rubric and agree or overturn it.

    ``agree`` needs ``disposition_correct``; ``overturn`` needs it false, a corrected
    disposition other than the closure's and a comment, and the case still closed by the
    closure under review. An overturn reopens the case (``case_reopen``, audited
    ``case.reopen``) and labels its transactions with the corrected disposition; the review
    itself is audited as ``qa.review``. Nobody reviews a closure they asked for or made.
    """
    review = (
        QAReview.objects.select_for_update(of=("self",)).select_related("case").get(pk=review.pk)
    )
    ensure_allowed(actor, "qa.review", review.case)
    if not review.is_pending:
        raise ConflictError(
            f"Review #{review.pk} was already completed ({review.get_verdict_display()}).",
            {"verdict": review.verdict},
        )
    if actor.pk in (review.investigator_id, review.closed_by_id):
        raise PermissionDeniedError(
            "You closed this case (or asked to); another supervisor must review it."
        )
    answers = {
        "evidence_reviewed": _rubric(evidence_reviewed, "evidence_reviewed"),
        "disposition_correct": _rubric(disposition_correct, "disposition_correct"),
        "note_adequate": _rubric(note_adequate, "note_adequate"),
    }
    if verdict not in V.values:
        raise ApplicationError(
            "Agree or overturn.", {"verdict": [f"One of: {', '.join(V.values)}."]}
        )
    comment = (comment or "").strip()
    if len(comment) > COMMENT_MAX:
        raise ApplicationError(
            "The comment is too long.", {"comment": ["At most 10,000 characters."]}
        )
    corrected = (corrected_disposition or "").strip()
    if verdict == V.AGREE:
        if not answers["disposition_correct"]:
            raise ApplicationError(
                "You found the disposition wrong: overturn the closure instead of agreeing.",
                {"verdict": ["Overturn when the disposition is wrong."]},
            )
        if corrected:
            raise ApplicationError(
                "Only an overturn names a corrected disposition.",
                {"corrected_disposition": ["Leave empty when you agree."]},
            )
    else:
        if answers["disposition_correct"]:
            raise ApplicationError(
                "An overturn means the disposition was wrong: answer that question 'no'.",
                {"disposition_correct": ["Must be 'no' for an overturn."]},
            )
        if corrected not in Case.CLOSING_DISPOSITIONS or corrected == review.disposition:
            raise ApplicationError(
                "Choose the disposition the case should have had.",
                {"corrected_disposition": ["A disposition other than the closure's."]},
            )
        if not comment:
            raise ApplicationError(
                "Say why the closure is overturned.", {"comment": ["A comment is required."]}
            )
    case = Case.objects.select_for_update(of=("self",)).get(pk=review.case_id)
    if case.status != Case.Status.CLOSED or case.closed_at != review.closed_at:
        raise ConflictError(
            f"Case #{case.pk} has been reopened or closed again since this closure; the review "
            "no longer applies to its current state.",
            {"status": case.status},
        )
    before = _review_snapshot(review)
    review.reviewer = actor
    review.reviewed_at = timezone.now()
    review.verdict = verdict
    review.corrected_disposition = corrected if verdict == V.OVERTURN else ""
    review.comment = comment
    for name, value in answers.items():
        setattr(review, name, value)
    review.save()
    labelled = None
    if verdict == V.OVERTURN:
        old = Case.Disposition(review.disposition).label
        new = Case.Disposition(corrected).label
        case_reopen(
            case=case,
            actor=actor,
            reason=f"Quality review #{review.pk} overturned the closure ({old} → {new}): {comment}",
        )
        ids = list(case.case_transactions.values_list("transaction_id", flat=True))
        labelled = transaction_labels_from_disposition(transaction_ids=ids, disposition=corrected)
    audit_record(
        actor=actor,
        action="qa.review",
        obj=review,
        case=case,
        before=before,
        after=_review_snapshot(review)
        | ({"labels_corrected": labelled} if labelled is not None else {}),
        note=comment,
    )
    return review
