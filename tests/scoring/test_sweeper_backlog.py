"""The sweeper and a long backlog: rows still waiting in the scoring queue are not "stale".

Before: every sweep re-enqueued each row pending for longer than PENDING_SWEEP_AFTER_SECONDS
and counted an attempt, so a row waiting behind a backlog of several minutes was queued again on
every sweep and marked failed after five of them without ever having been tried."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from fraudcases.celery import app
from scoring.models import Transaction
from scoring.services.ingest import beat_slack, scoring_backlog, transactions_requeue_stale
from tests.helpers import txn

pytestmark = pytest.mark.django_db


@pytest.fixture
def stale_rows(settings, monkeypatch):
    """Five pending rows enqueued long ago; champion file checks pass; sends recorded."""
    from scoring.services.ingest import transactions_submit

    monkeypatch.setattr("scoring.services.ingest._champion_problem", lambda: "")
    sent: list[list[int]] = []
    monkeypatch.setattr(
        "scoring.queueing.score_batch_send", lambda ids, request_id=None: sent.append(ids)
    )
    ids = transactions_submit(
        items=[txn(n) for n in range(5)], source=Transaction.Source.API, mode="sync"
    ).ids
    old = timezone.now() - timedelta(seconds=settings.PENDING_SWEEP_AFTER_SECONDS + 5)
    Transaction.objects.filter(id__in=ids).update(enqueued_at=old)
    return ids, sent


def _attempts(ids: list[int]) -> set[int]:
    return set(Transaction.objects.filter(id__in=ids).values_list("scoring_attempts", flat=True))


def test_rows_behind_a_backlog_are_neither_requeued_nor_counted_nor_failed(
    stale_rows, settings, monkeypatch, django_capture_on_commit_callbacks
):
    ids, sent = stale_rows
    monkeypatch.setattr("scoring.services.ingest.scoring_backlog", lambda: 180)
    for _ in range(settings.MAX_SCORING_ATTEMPTS + 2):  # more sweeps than attempts allowed
        with django_capture_on_commit_callbacks(execute=True):
            assert transactions_requeue_stale() == 0
    assert sent == []
    assert _attempts(ids) == {0}
    assert set(Transaction.objects.filter(id__in=ids).values_list("status", flat=True)) == {
        Transaction.Status.PENDING
    }
    # A broker that cannot say how deep the queue is: the same (nothing counted).
    monkeypatch.setattr("scoring.services.ingest.scoring_backlog", lambda: None)
    assert transactions_requeue_stale() == 0 and _attempts(ids) == {0}
    # The backlog drained and the rows are still pending: their task was lost; now re-sent.
    monkeypatch.setattr("scoring.services.ingest.scoring_backlog", lambda: 0)
    with django_capture_on_commit_callbacks(execute=True):
        assert transactions_requeue_stale() == 5
    assert [sorted(batch) for batch in sent] == [sorted(ids)]
    assert _attempts(ids) == {1}


def test_the_backlog_is_the_scoring_queue_depth_on_the_broker():
    queue = app.conf.task_default_queue
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(queue)
    assert scoring_backlog() == 0
    for _ in range(3):
        app.send_task("celery.ping", queue=queue)
    try:
        assert scoring_backlog() == 3
    finally:
        with app.connection_for_write() as conn:
            conn.default_channel.queue_purge(queue)
    assert scoring_backlog() == 0


def test_the_periodic_tasks_beside_the_sweep_do_not_count_as_a_backlog(
    stale_rows, monkeypatch, django_capture_on_commit_callbacks
):
    """The periodic tasks share the scoring queue: at a beat tick the sweep can find the
    other entries' messages beside it. Seen in the chaos run (a SIGKILLed worker's batch never
    re-sent: "the scoring queue holds 1 messages" at every sweep). Those do not block it; one
    message more than a tick can put there does."""
    ids, sent = stale_rows
    slack = beat_slack()
    assert slack == len(app.conf.beat_schedule) > 1
    monkeypatch.setattr("scoring.services.ingest.scoring_backlog", lambda: slack + 1)
    assert transactions_requeue_stale() == 0 and sent == []
    monkeypatch.setattr("scoring.services.ingest.scoring_backlog", lambda: slack)
    with django_capture_on_commit_callbacks(execute=True):
        assert transactions_requeue_stale() == len(ids)
    assert [sorted(batch) for batch in sent] == [sorted(ids)]
