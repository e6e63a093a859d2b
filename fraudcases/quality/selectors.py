"""Quality review reads, restricted by role (fail closed)."""

from __future__ import annotations

from django.db.models import QuerySet

from core.permissions import user_can

from ..models import QAReview

QUEUE_STATES = ("pending", "done", "overturned", "all")


def qa_review_list(*, user, state: str = "pending") -> QuerySet[QAReview]:
    """Reviews for the ``/qa/`` queue: ``pending`` (oldest first), ``done``, ``overturned`` or
    ``all`` (newest first). Users without ``qa.view`` get nothing."""
    if not user_can(user, "qa.view"):
        return QAReview.objects.none()
    qs = QAReview.objects.select_related("case", "investigator", "closed_by", "reviewer")
    if state == "pending":
        return qs.filter(verdict="").order_by("sampled_at", "id")
    if state == "done":
        qs = qs.exclude(verdict="")
    elif state == "overturned":
        qs = qs.filter(verdict=QAReview.Verdict.OVERTURN)
    return qs.order_by("-sampled_at", "-id")


def qa_review_get(*, user, review_id: int) -> QAReview | None:
    """One review if the user may read the queue."""
    return qa_review_list(user=user, state="all").filter(pk=review_id).first()


def qa_pending_count(*, user) -> int:
    return qa_review_list(user=user, state="pending").count()
