"""The scoring service and task: results, cases, idempotency, queries, the sweeper."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.models import AuditEvent
from fraudcases.models import Case, CaseTransaction
from fraudcases.services import CaseHit, cases_open_or_attach
from scoring.models import Transaction
from scoring.services.ingest import transactions_requeue_stale
from scoring.services.scoring import NoChampionModelError, transactions_score
from scoring.tasks import score_batch
from tests.helpers import ingest_recent, load_history, split_history


@pytest.fixture
def scored_world(db, champion, synthetic_history):
    """History in the database and the last three days scored once."""
    older, recent = split_history(synthetic_history)
    load_history(older)
    ids = ingest_recent(recent)
    outcome = transactions_score(transaction_ids=ids)
    return ids, recent, outcome


def test_every_transaction_gets_a_result(scored_world, champion):
    ids, recent, outcome = scored_world
    assert outcome.scored == len(ids) == len(recent)
    rows = Transaction.objects.filter(id__in=ids)
    assert not rows.exclude(status=Transaction.Status.SCORED).exists()
    for t in rows:
        assert 0 <= t.risk_score <= 100
        assert t.model_version_id == champion.pk
        assert len(t.reasons) <= 3
        expected = (
            "critical"
            if t.risk_score >= 90
            else "high"
            if t.risk_score >= 70
            else "medium"
            if t.risk_score >= 40
            else "low"
        )
        assert t.risk_level == expected


def test_fraud_opens_a_case_with_its_transactions_and_an_audit_event(scored_world):
    _, recent, _ = scored_world
    # acct-000006 runs a card-testing episode in the last three days of this seed.
    tester = recent[(recent["account_id"] == "acct-000006") & (recent["is_fraud"] == 1)]
    assert set(tester["fraud_pattern"]) == {"card_testing"}
    case = Case.objects.get(account_id="acct-000006")
    assert case.status == Case.Status.NEW
    assert case.priority in ("high", "critical") and case.due_at is not None
    linked = set(case.transactions.values_list("external_id", flat=True))
    assert len(linked & set(tester["external_id"])) >= len(tester) - 1
    event = AuditEvent.objects.get(case=case, action="case.open")
    assert event.actor_label == "system:scoring-worker" and event.after["status"] == "new"
    reasons = Transaction.objects.filter(case_link__case=case).first().reasons
    assert reasons and all(r["detail"] for r in reasons)


def test_cases_are_mostly_fraud(scored_world):
    _, recent, _ = scored_world
    fraud_accounts = set(recent.loc[recent["is_fraud"] == 1, "account_id"])
    case_accounts = set(Case.objects.values_list("account_id", flat=True))
    assert case_accounts, "no case opened"
    assert len(case_accounts & fraud_accounts) / len(case_accounts) >= 0.5


def test_scoring_twice_changes_nothing(scored_world):
    ids, _, _ = scored_world
    before = (Case.objects.count(), CaseTransaction.objects.count(), AuditEvent.objects.count())
    snapshot = list(Transaction.objects.filter(id__in=ids).values("id", "risk_score", "scored_at"))
    again = transactions_score(transaction_ids=ids)
    assert again.scored == 0 and again.skipped == len(ids)
    after = (Case.objects.count(), CaseTransaction.objects.count(), AuditEvent.objects.count())
    assert after == before
    assert (
        list(Transaction.objects.filter(id__in=ids).values("id", "risk_score", "scored_at"))
        == snapshot
    )


def test_task_is_idempotent(scored_world):
    ids, _, _ = scored_world
    cases = Case.objects.count()
    result = score_batch.apply(args=[ids]).get()
    assert result == {"scored": 0, "skipped": len(ids), "cases": []}
    assert Case.objects.count() == cases


def test_later_risky_transactions_attach_to_the_open_case(scored_world, synthetic_history):
    case = Case.objects.get(account_id="acct-000006")
    linked_before = set(case.transactions.values_list("id", flat=True))
    score_before = case.risk_score
    later = Transaction.objects.filter(account_id="acct-000006").exclude(id__in=linked_before)
    extra = list(later.values_list("id", flat=True)[:2])
    assert extra
    touched = cases_open_or_attach(
        hits=[
            CaseHit(
                account_id="acct-000006",
                transaction_ids=extra,
                risk_score=99,
                risk_level="critical",
                reasons=["test"],
            )
        ]
    )
    assert [c.pk for c in touched] == [case.pk]
    assert Case.objects.filter(account_id="acct-000006").count() == 1
    case.refresh_from_db()
    assert set(case.transactions.values_list("id", flat=True)) == linked_before | set(extra)
    # raised, never lowered
    assert case.priority == "critical" and case.risk_score == max(score_before, 99)
    event = AuditEvent.objects.get(case=case, action="case.attach_transactions")
    assert event.after["transactions"] == extra and event.before is not None
    # The same hit again attaches nothing and records nothing.
    n_events = AuditEvent.objects.count()
    cases_open_or_attach(
        hits=[CaseHit(account_id="acct-000006", transaction_ids=extra, risk_score=99)]
    )
    assert AuditEvent.objects.count() == n_events


def test_a_closed_case_does_not_take_new_transactions(scored_world):
    case = Case.objects.get(account_id="acct-000006")
    Case.objects.filter(pk=case.pk).update(status=Case.Status.CLOSED, disposition="legitimate")
    other = Transaction.objects.filter(account_id="acct-000006", case_link__isnull=True).first()
    (new_case,) = cases_open_or_attach(
        hits=[CaseHit(account_id="acct-000006", transaction_ids=[other.id], risk_score=80)]
    )
    assert new_case.pk != case.pk and new_case.status == Case.Status.NEW


def test_queries_do_not_grow_with_batch_size(db, champion, synthetic_history, settings):
    """Constant number of queries for low-risk batches of 20 and of 400 transactions. The
    cases a false positive may open are the case domain's (its own query tests): the hits go
    to a recording handler here, so only scoring's queries are counted."""
    settings.SCORING_HITS_HANDLER = "tests.helpers.hits_discarded"
    older, recent = split_history(synthetic_history)
    load_history(older)
    legit = recent[recent["is_fraud"] == 0]
    counts = []
    for size, offset in ((20, 0), (400, 20)):
        ids = ingest_recent(legit.iloc[offset : offset + size])
        with CaptureQueriesContext(connection) as ctx:
            outcome = transactions_score(transaction_ids=ids)
        assert outcome.scored == size
        counts.append([q["sql"] for q in ctx.captured_queries])
    small, large = counts
    # SQLite's bound-parameter limit splits the batch's UPDATE … FROM (VALUES …) into chunks
    # (scoring.bulk.update_rows); PostgreSQL does not.
    is_bulk_update = re.compile(
        r'UPDATE "scoring_transaction" SET .* FROM \(SELECT column1 AS "id"'
    )
    assert len(small) == len(large) or (
        connection.vendor == "sqlite"
        and len([q for q in small if not is_bulk_update.match(q)])
        == len([q for q in large if not is_bulk_update.match(q)])
    ), counts


def test_without_a_champion_transactions_stay_pending(db, synthetic_history):
    ids = ingest_recent(synthetic_history.tail(3))
    with pytest.raises(NoChampionModelError):
        transactions_score(transaction_ids=ids)
    assert Transaction.objects.filter(status=Transaction.Status.PENDING).count() == 3


@pytest.mark.django_db
def test_sweeper_requeues_stale_pending_then_gives_up(
    champion, synthetic_history, monkeypatch, settings, django_capture_on_commit_callbacks
):
    sent: list[list[int]] = []
    monkeypatch.setattr(
        "scoring.queueing.score_batch_send", lambda ids, request_id=None: sent.append(ids)
    )
    # An empty scoring queue (messages other tests left on a real broker would hold the sweep
    # back: tests/scoring/test_sweeper_backlog.py).
    monkeypatch.setattr("scoring.services.ingest.scoring_backlog", lambda: 0)
    ids = ingest_recent(synthetic_history.tail(5))
    # Fresh rows are left alone.
    assert transactions_requeue_stale() == 0
    old = timezone.now() - timedelta(seconds=settings.PENDING_SWEEP_AFTER_SECONDS + 5)
    Transaction.objects.filter(id__in=ids).update(enqueued_at=old)
    with django_capture_on_commit_callbacks(execute=True):
        assert transactions_requeue_stale() == 5
    assert [sorted(batch) for batch in sent] == [sorted(ids)]
    assert set(Transaction.objects.values_list("scoring_attempts", flat=True)) == {1}
    Transaction.objects.filter(id__in=ids).update(
        enqueued_at=old, scoring_attempts=settings.MAX_SCORING_ATTEMPTS
    )
    assert transactions_requeue_stale() == 0
    failed = Transaction.objects.filter(status=Transaction.Status.FAILED)
    assert failed.count() == 5 and "attempts" in failed.first().error
