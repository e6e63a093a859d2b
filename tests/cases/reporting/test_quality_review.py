"""Quality review: the sampling policy, the review rubric and the overturn flow (the case is
reopened through the workflow, its training label corrected through the label service, and
every step audited)."""

from __future__ import annotations

import pytest
from django.test import Client

from core.errors import ApplicationError, ConflictError, PermissionDeniedError
from core.models import AuditEvent
from fraudcases import services
from fraudcases.models import Case, QAReview
from fraudcases.quality import receivers
from fraudcases.quality.policy import qa_draw, qa_sample_reason
from fraudcases.quality.services import qa_review_submit, qa_sample_closures
from scoring.models import LabelSource, Transaction
from tests.factories import CaseFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(make_user):
    return {
        "ivy": make_user("investigator", "ivy"),
        "sam": make_user("supervisor", "sam"),
        "sue": make_user("supervisor", "sue"),
        "aud": make_user("auditor", "aud"),
    }


def close(case, actor, disposition="legitimate", note="Customer confirmed the purchases."):
    return services.case_close(case=case, actor=actor, disposition=disposition, note=note)


def test_draw_is_uniform_reproducible_and_keyed(settings):
    from datetime import UTC, datetime

    at = datetime(2026, 11, 2, 10, tzinfo=UTC)
    draws = [qa_draw(case_id=i, closed_at=at) for i in range(4000)]
    assert draws == [qa_draw(case_id=i, closed_at=at) for i in range(4000)]
    share = sum(d < 0.05 for d in draws) / len(draws)
    assert 0.035 < share < 0.065
    settings.SECRET_KEY = "another-key-" + "x" * 40
    assert [qa_draw(case_id=i, closed_at=at) for i in range(50)] != draws[:50]


def test_policy_always_reviews_high_risk_legitimate(settings):
    from datetime import UTC, datetime

    settings.QA_SAMPLE_RATE = 0.0
    at = datetime(2026, 11, 2, tzinfo=UTC)
    kw = {"case_id": 1, "closed_at": at}
    assert qa_sample_reason(**kw, disposition="legitimate", risk_score=90) == "high_risk"
    assert qa_sample_reason(**kw, disposition="legitimate", risk_score=89) is None
    assert qa_sample_reason(**kw, disposition="fraud_confirmed", risk_score=99) is None
    settings.QA_SAMPLE_RATE = 1.0
    assert qa_sample_reason(**kw, disposition="fraud_confirmed", risk_score=10) == "random"


def test_sampling_sweep_is_idempotent_and_audited(team, settings):
    settings.QA_SAMPLE_RATE = 0.0
    risky = CaseFactory(risk_score=95, priority="high")
    ordinary = CaseFactory(risk_score=60, priority="high")
    services.case_close(case=risky, actor=team["ivy"], disposition="legitimate", note="ok")
    services.case_approve_closure(case=risky, actor=team["sam"])
    close(ordinary, team["ivy"])
    created = qa_sample_closures()
    assert [r.case_id for r in created] == [risky.pk]
    review = created[0]
    assert review.sample_reason == QAReview.Reason.HIGH_RISK
    assert review.investigator == team["ivy"]  # asked for the closure
    assert review.closed_by == team["sam"]  # approved it
    assert qa_sample_closures() == []  # a closure is sampled once
    event = AuditEvent.objects.get(action="qa.sample")
    assert event.case_id == risky.pk and event.actor_label == "system:qa-sampler"
    assert event.after["reason"] == "high_risk"

    settings.QA_SAMPLE_RATE = 1.0
    assert [r.case_id for r in qa_sample_closures()] == [ordinary.pk]
    assert AuditEvent.objects.filter(action="qa.sample").count() == 2


def test_a_closure_is_sampled_as_soon_as_it_commits(
    team, settings, django_capture_on_commit_callbacks
):
    settings.QA_SAMPLE_RATE = 1.0
    receivers.connect()
    try:
        case = CaseFactory(risk_score=60, priority="high")
        with django_capture_on_commit_callbacks(execute=True):
            close(case, team["ivy"])
    finally:
        receivers.disconnect()
    assert QAReview.objects.filter(case=case, closed_at=Case.objects.get(pk=case.pk).closed_at)


@pytest.fixture
def sampled(team, settings):
    settings.QA_SAMPLE_RATE = 1.0
    case = CaseFactory(risk_score=60, priority="high", transactions=2)
    close(case, team["ivy"])
    ids = list(case.transactions.values_list("pk", flat=True))
    assert set(Transaction.objects.filter(pk__in=ids).values_list("is_fraud", flat=True)) == {False}
    (review,) = qa_sample_closures()
    return review, ids


def rubric(**kw):
    values = {
        "evidence_reviewed": True,
        "disposition_correct": False,
        "note_adequate": False,
        "verdict": "overturn",
        "corrected_disposition": "fraud_confirmed",
        "comment": "The device is shared with a known mule account.",
    }
    return values | kw


def test_overturn_reopens_the_case_and_corrects_the_label(team, sampled):
    review, ids = sampled
    qa_review_submit(review=review, actor=team["sam"], **rubric())
    review.refresh_from_db()
    assert review.verdict == "overturn" and review.reviewer == team["sam"]
    assert review.corrected_disposition == "fraud_confirmed"
    case = Case.objects.get(pk=review.case_id)
    assert case.status == Case.Status.IN_REVIEW and case.disposition == ""
    labels = set(Transaction.objects.filter(pk__in=ids).values_list("is_fraud", "label_source"))
    assert labels == {(True, LabelSource.DISPOSITION)}
    reopen = AuditEvent.objects.get(action="case.reopen", case=case)
    assert reopen.actor_label == "user:sam" and f"Quality review #{review.pk}" in reopen.note
    assert reopen.after["labels_cleared"] == 2
    qa = AuditEvent.objects.get(action="qa.review")
    assert qa.case_id == case.pk and qa.object_type == "fraudcases.qareview"
    assert qa.before["verdict"] == "" and qa.after["verdict"] == "overturn"
    assert qa.after["labels_corrected"] == 2
    assert qa.id > reopen.id
    # Closed again by the investigator: the new closure's label wins, and it is a new closure.
    close(case, team["ivy"], disposition="fraud_confirmed", note="Agreed with QA.")
    assert len(qa_sample_closures()) == 1


def test_agree_changes_nothing_but_the_review(team, sampled):
    review, ids = sampled
    qa_review_submit(
        review=review,
        actor=team["sam"],
        **rubric(verdict="agree", disposition_correct=True, corrected_disposition="", comment=""),
    )
    assert Case.objects.get(pk=review.case_id).status == Case.Status.CLOSED
    assert set(Transaction.objects.filter(pk__in=ids).values_list("is_fraud", flat=True)) == {False}
    assert AuditEvent.objects.get(action="qa.review").after["verdict"] == "agree"
    with pytest.raises(ConflictError):
        qa_review_submit(review=review, actor=team["sue"], **rubric())


@pytest.mark.parametrize(
    "changes,field",
    [
        ({"verdict": "agree", "corrected_disposition": ""}, "verdict"),  # wrong yet agreed
        ({"disposition_correct": True}, "disposition_correct"),
        ({"corrected_disposition": "legitimate"}, "corrected_disposition"),  # unchanged
        ({"corrected_disposition": ""}, "corrected_disposition"),
        ({"comment": "  "}, "comment"),
        ({"verdict": "maybe"}, "verdict"),
        ({"note_adequate": None}, "note_adequate"),
    ],
)
def test_inconsistent_reviews_are_refused_and_change_nothing(team, sampled, changes, field):
    review, _ = sampled
    with pytest.raises(ApplicationError) as exc:
        qa_review_submit(review=review, actor=team["sam"], **rubric(**changes))
    assert field in exc.value.extra
    review.refresh_from_db()
    assert review.is_pending
    assert not AuditEvent.objects.filter(action__in=("qa.review", "case.reopen")).exists()


def test_who_may_review(team, sampled, make_user):
    review, _ = sampled
    for who in ("ivy", "aud"):  # investigators and auditors do not review
        with pytest.raises(PermissionDeniedError):
            qa_review_submit(review=review, actor=team[who], **rubric())
    closer = make_user("supervisor", "boss")
    other = CaseFactory(risk_score=60, priority="high")
    close(other, closer)
    (own,) = [r for r in qa_sample_closures() if r.case_id == other.pk]
    with pytest.raises(PermissionDeniedError, match="another supervisor"):
        qa_review_submit(review=own, actor=closer, **rubric())


def test_a_review_of_a_superseded_closure_is_refused(team, sampled):
    review, _ = sampled
    case = Case.objects.get(pk=review.case_id)
    services.case_reopen(case=case, actor=team["sue"], reason="New evidence")
    with pytest.raises(ConflictError, match="reopened"):
        qa_review_submit(review=review, actor=team["sam"], **rubric())


def test_queue_and_review_pages(team, sampled):
    review, _ = sampled
    sup = Client()
    sup.force_login(team["sam"])
    page = sup.get("/qa/")
    assert page.status_code == 200 and f"/qa/{review.pk}/" in page.content.decode()
    assert sup.get("/qa/?state=bogus").status_code == 400
    detail = sup.get(f"/qa/{review.pk}/")
    assert detail.status_code == 200 and 'id="qa-form"' in detail.content.decode()
    bad = sup.post(f"/qa/{review.pk}/", {"verdict": "overturn"})
    assert bad.status_code == 400
    refused = sup.post(
        f"/qa/{review.pk}/",
        {
            "evidence_reviewed": "yes",
            "disposition_correct": "no",
            "note_adequate": "no",
            "verdict": "overturn",
            "corrected_disposition": "",
            "comment": "x",
        },
    )
    assert refused.status_code == 400
    assert "Choose the disposition" in refused.content.decode()
    done = sup.post(
        f"/qa/{review.pk}/",
        {
            "evidence_reviewed": "yes",
            "disposition_correct": "no",
            "note_adequate": "yes",
            "verdict": "overturn",
            "corrected_disposition": "fraud_confirmed",
            "comment": "Mule device.",
        },
    )
    assert done.status_code == 302 and done["Location"] == "/qa/"
    assert Case.objects.get(pk=review.case_id).status == Case.Status.IN_REVIEW
    auditor = Client()
    auditor.force_login(team["aud"])
    assert auditor.get(f"/qa/{review.pk}/").status_code == 200
    assert auditor.post(f"/qa/{review.pk}/", {}).status_code == 403
    investigator = Client()
    investigator.force_login(team["ivy"])
    assert investigator.get("/qa/").status_code == 403


def test_an_overturn_cannot_choose_merged():
    """``merged`` is what the merge service records, never an outcome a reviewer picks."""
    from fraudcases.quality.forms import QAReviewForm

    choices = {value for value, _ in QAReviewForm().fields["corrected_disposition"].choices}
    assert "merged" not in choices and "fraud_confirmed" in choices
