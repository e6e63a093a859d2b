"""End to end: a real Celery worker process, the real API over HTTP, the real database.

The test server (``live_server``) and a ``celery worker`` subprocess share the test database and
the broker (Redis in CI, the embedded filesystem broker locally) on a queue of this run's own.
"""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

from core.models import AuditEvent
from fraudcases.celery import app
from fraudcases.models import Case
from scoring.models import Transaction
from tests.helpers import api_items, http, load_history, running_worker, split_history

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(tmp_path):
    with running_worker(tmp_path / "worker.log") as running:
        yield running


def wait_until_scored(external_ids: set[str], process, log, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    rows = Transaction.objects.filter(external_id__in=external_ids)
    while rows.filter(status="scored").count() < len(external_ids):
        if process.poll() is not None or time.monotonic() > deadline:
            log.seek(0)
            pending = rows.exclude(status="scored").count()
            pytest.fail(f"{pending} transactions not scored; worker log:\n{log.read()[-5000:]}")
        time.sleep(0.5)


def test_posted_batch_is_scored_by_the_worker_and_opens_the_case(
    live_server, worker, champion, api_key, synthetic_history
):
    process, log = worker
    older, recent = split_history(synthetic_history)
    load_history(older)
    items = api_items(recent)

    status, body = http(
        "POST", f"{live_server.url}/api/v1/transactions", api_key[1], {"transactions": items}
    )
    assert status == 202, body
    assert body == {"accepted": len(items), "duplicates": 0}

    ids = {i["external_id"] for i in items}
    deadline = time.monotonic() + 120
    while Transaction.objects.filter(external_id__in=ids, status="scored").count() < len(ids):
        if process.poll() is not None or time.monotonic() > deadline:
            log.seek(0)
            pending = (
                Transaction.objects.filter(external_id__in=ids).exclude(status="scored").count()
            )
            pytest.fail(f"{pending} transactions not scored; worker log:\n{log.read()[-5000:]}")
        time.sleep(0.5)

    # The card-testing episode of acct-000006 in this data opens a case, recorded by the worker.
    case = Case.objects.get(account_id="acct-000006")
    tester_ids = set(
        recent.loc[
            (recent["account_id"] == "acct-000006") & (recent["is_fraud"] == 1), "external_id"
        ]
    )
    assert tester_ids & set(case.transactions.values_list("external_id", flat=True))
    event = AuditEvent.objects.get(case=case, action="case.open")
    assert event.actor_label == "system:scoring-worker"
    assert event.request_id  # the API request's id travelled into the task

    # The result is readable over the API, with its case.
    linked = case.transactions.first()
    status, result = http(
        "GET", f"{live_server.url}/api/v1/transactions/{linked.external_id}", api_key[1]
    )
    assert status == 200
    assert result["status"] == "scored" and result["case_id"] == case.pk
    assert result["risk_level"] in ("high", "critical") and result["reasons"]

    # Posting the same batch again is all duplicates and enqueues nothing new.
    status, body = http(
        "POST", f"{live_server.url}/api/v1/transactions", api_key[1], {"transactions": items}
    )
    assert body == {"accepted": 0, "duplicates": len(items)}


def test_healthz_is_green_with_a_live_worker(live_server, worker, champion):
    with urllib.request.urlopen(f"{live_server.url}/healthz", timeout=10) as response:
        body = json.loads(response.read())
    assert response.status == 200, body
    assert body["status"] == "ok" and body["failing"] == []


def test_acknowledged_transactions_survive_a_broker_outage_and_lost_messages(
    live_server, champion, api_key, synthetic_history, monkeypatch, settings, tmp_path
):
    """Acknowledged means scored eventually: the broker refuses the task (outage), or the queued
    message is lost (Redis keeps nothing on disk here), and the sweeper still gets them scored."""
    from kombu.exceptions import OperationalError

    older, recent = split_history(synthetic_history, days=1)
    load_history(older)
    items = api_items(recent)
    first, second = items[: len(items) // 2], items[len(items) // 2 :]
    url = f"{live_server.url}/api/v1/transactions"

    def broker_down(*args, **kwargs):
        raise OperationalError("[Errno 111] Connection refused")

    with monkeypatch.context() as patch:
        patch.setattr("scoring.queueing.score_batch_send", broker_down)
        status, body = http("POST", url, api_key[1], {"transactions": first})
    assert status == 202 and body["accepted"] == len(first)

    # No worker yet: the task for the second batch is queued, then the queue is wiped.
    status, body = http("POST", url, api_key[1], {"transactions": second})
    assert status == 202 and body["accepted"] == len(second)
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(app.conf.task_default_queue)
    assert Transaction.objects.filter(status="pending").count() == len(items)

    with running_worker(tmp_path / "worker.log") as (process, log):
        time.sleep(2)
        assert Transaction.objects.filter(status="pending").count() == len(items)  # nothing queued
        settings.PENDING_SWEEP_AFTER_SECONDS = 0
        from scoring.tasks import sweep_pending

        assert sweep_pending() == len(items)
        wait_until_scored({i["external_id"] for i in items}, process, log)
    attempts = set(
        Transaction.objects.filter(source="api").values_list("scoring_attempts", flat=True)
    )
    assert attempts == {1}
