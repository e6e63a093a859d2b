"""/healthz, /metrics and the 503 answers while the database is unreachable."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.handlers.exception import convert_exception_to_response
from django.db import OperationalError, connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.outage import DatabaseUnavailableMiddleware
from scoring.models import Transaction, WorkerHeartbeat
from scoring.services import health
from tests.helpers import sample

VENDOR_WORDS = ("sqlite", "postgresql", "redis", "filesystem", "Error", "Traceback")


@pytest.fixture
def alive_worker(db):
    return WorkerHeartbeat.objects.create(hostname="w@host", last_seen=timezone.now())


@pytest.fixture
def staff_client(client, make_user):
    client.force_login(make_user("admin"))
    return client


# --- /healthz -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_healthz_anonymous_sees_only_status_and_failing_names(client, champion):
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "unhealthy", "failing": ["worker"]}
    assert response["Retry-After"]
    assert not any(word in response.content.decode() for word in VENDOR_WORDS)


@pytest.mark.django_db
def test_healthz_is_ok_with_a_fresh_heartbeat_and_a_sound_champion(client, champion, alive_worker):
    response = client.get("/healthz")
    assert response.status_code == 200, response.json()
    assert response.json() == {"status": "ok", "failing": []}


@pytest.mark.django_db
def test_healthz_gives_staff_the_details(staff_client, champion):
    body = staff_client.get("/healthz").json()
    assert body["failing"] == ["worker"]
    assert body["checks"]["database"] == {"ok": True, "detail": connection.vendor}
    assert body["checks"]["worker"]["ok"] is False
    assert "0 worker(s)" in body["checks"]["worker"]["detail"]
    assert body["checks"]["model"] == {"ok": True, "detail": f"champion {champion.version}"}


@pytest.mark.django_db
def test_healthz_details_are_not_for_other_roles(client, make_user, champion):
    client.force_login(make_user("supervisor"))
    assert "checks" not in client.get("/healthz").json()


@pytest.mark.django_db
def test_healthz_answers_when_the_session_cannot_be_read(staff_client, champion, monkeypatch):
    def down(self, *args, **kwargs):
        raise OperationalError("the database system is starting up")

    monkeypatch.setattr("django.contrib.sessions.backends.db.SessionStore.load", down)
    response = staff_client.get("/healthz")
    assert response.json() == {"status": "unhealthy", "failing": ["worker"]}


@pytest.mark.django_db
def test_healthz_ignores_a_stale_heartbeat(client, settings, champion):
    WorkerHeartbeat.objects.create(
        hostname="old@host",
        last_seen=timezone.now() - timedelta(seconds=settings.WORKER_HEARTBEAT_STALE_SECONDS + 1),
    )
    assert client.get("/healthz").status_code == 503
    WorkerHeartbeat.objects.create(hostname="new@host", last_seen=timezone.now())
    response = client.get("/healthz")
    assert response.status_code == 200, response.json()


@pytest.mark.django_db
def test_healthz_reports_a_dead_broker(client, monkeypatch, champion, alive_worker):
    from fraudcases.celery import app

    real = app.connection_for_write
    # A real connection attempt to a port nothing listens on.
    monkeypatch.setattr(app, "connection_for_write", lambda: real(url="redis://127.0.0.1:1/0"))
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "unhealthy", "failing": ["broker"]}


@pytest.mark.django_db
def test_healthz_without_a_champion_names_the_model(client, alive_worker):
    assert client.get("/healthz").json() == {"status": "unhealthy", "failing": ["model"]}


@pytest.mark.django_db
def test_healthz_names_a_missing_or_altered_champion_file(staff_client, champion, alive_worker):
    path = Path(champion.file_path)
    original = path.read_bytes()
    try:
        path.unlink()
        body = staff_client.get("/healthz").json()
        assert body["failing"] == ["model"]
        assert "is missing" in body["checks"]["model"]["detail"]
        path.write_bytes(original[:-10] + b"0123456789")
        body = staff_client.get("/healthz").json()
        assert body["failing"] == ["model"]
        assert "does not match its SHA-256" in body["checks"]["model"]["detail"]
    finally:
        path.write_bytes(original)
    assert staff_client.get("/healthz").status_code == 200


@pytest.mark.django_db
def test_model_file_hash_is_cached_until_the_file_changes(champion, monkeypatch):
    calls = []
    from scoring.services import registry

    real = registry.file_sha256
    monkeypatch.setattr(registry, "file_sha256", lambda p: calls.append(p) or real(p))
    health.file_check_cache.clear()
    assert health.champion_file_check()["ok"]
    assert health.champion_file_check()["ok"]
    assert len(calls) == 1  # the second probe cost one stat, not a hash
    stat = os.stat(champion.file_path)
    os.utime(champion.file_path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert health.champion_file_check()["ok"]
    assert len(calls) == 2


# --- /metrics -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_metrics_need_credentials(client):
    response = client.get("/metrics")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.django_db
def test_metrics_are_for_staff_not_other_roles(client, make_user):
    client.force_login(make_user("investigator"))
    assert client.get("/metrics").status_code == 403


@pytest.mark.django_db
def test_metrics_token(client, settings):
    settings.METRICS_TOKEN = "s3cret-scraper-token"
    ok = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scraper-token")
    assert ok.status_code == 200
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 401


@pytest.mark.django_db
def test_metrics_move_with_ingestion(
    staff_client,
    api_client,
    champion,
    alive_worker,
    django_capture_on_commit_callbacks,
    monkeypatch,
):
    before = staff_client.get("/metrics").content.decode()
    items = [
        {
            "external_id": f"metrics-{i}",
            "account_id": "acct-metrics",
            "amount": "12.50",
            "occurred_at": "2026-11-20T10:00:00Z",
        }
        for i in range(3)
    ]
    # The broker boundary: scoring is not under test here (tests/core/test_metrics.py scores).
    monkeypatch.setattr("scoring.queueing.score_batch_send", lambda *a, **k: None)
    # Counters move when the rows are committed (on_commit callbacks).
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post("/api/v1/transactions", {"transactions": items}, format="json")
    assert response.status_code == 202, response.content
    Transaction.objects.filter(external_id="metrics-0").update(
        created_at=timezone.now() - timedelta(seconds=90)
    )
    after = staff_client.get("/metrics").content.decode()

    def delta(name, **labels):
        return (sample(after, name, **labels) or 0) - (sample(before, name, **labels) or 0)

    assert delta("fraudcases_transactions_ingested_total", source="api") == 3
    assert sample(after, "fraudcases_transactions_pending") == 3
    assert sample(after, "fraudcases_oldest_pending_seconds") >= 90
    assert sample(after, "fraudcases_workers_alive") == 1
    assert sample(after, "fraudcases_model_file_ok") == 1
    assert sample(after, "fraudcases_model_info", role="champion", version=champion.version) == 1
    assert sample(after, "fraudcases_database_up") == 1
    assert "# TYPE fraudcases_scoring_duration_seconds histogram" in after


@pytest.mark.django_db
def test_a_scrape_reads_no_whole_table(staff_client, champion):
    with CaptureQueriesContext(connection) as queries:
        assert staff_client.get("/metrics").status_code == 200
    transaction_reads = [q["sql"] for q in queries if '"scoring_transaction"' in q["sql"]]
    assert transaction_reads, "the pending backlog is read"
    for sql in transaction_reads:
        assert '"scoring_transaction"."status" = ' in sql, sql  # the indexed status prefix
    assert not any('"fraudcases_case"' in q["sql"] for q in queries)
    assert len(queries) <= 12


@pytest.mark.django_db
def test_a_scrape_while_the_database_is_down_still_answers(client, settings, monkeypatch):
    settings.METRICS_TOKEN = "scraper-token-for-tests"

    def down():
        raise OperationalError("connection refused")

    monkeypatch.setattr("scoring.metrics.champion_file_check", down)
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scraper-token-for-tests")
    assert response.status_code == 200
    text = response.content.decode()
    assert sample(text, "fraudcases_database_up") == 0
    assert sample(text, "fraudcases_transactions_pending") is None  # not made up
    assert "# TYPE fraudcases_scoring_duration_seconds histogram" in text  # from the files


# --- Database unavailable -------------------------------------------------------------------------


@pytest.mark.django_db
def test_api_answers_503_with_retry_after_when_the_database_is_down(api_client, monkeypatch):
    def down(self, request):
        raise OperationalError("connection refused")

    monkeypatch.setattr("scoring.api.authentication.ApiKeyAuthentication.authenticate", down)
    response = api_client.post("/api/v1/transactions", {"transactions": []}, format="json")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert "temporarily unavailable" in response.json()["detail"]
    assert "connection refused" not in response.content.decode()


@pytest.mark.django_db
def test_pages_answer_a_styled_503_when_the_database_is_down(client, make_user, monkeypatch):
    client.force_login(make_user("investigator"))

    def down(self, *args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr("django.contrib.sessions.backends.db.SessionStore.load", down)
    response = client.get("/cases/")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    html = response.content.decode()
    assert "Temporarily unavailable" in html and "app.css" in html
    assert "server closed" not in html


def test_a_database_error_below_the_middleware_becomes_a_503_not_a_500(db):
    def inner(request):  # e.g. the session middleware saving the session
        raise OperationalError("the database system is shutting down")

    middleware = DatabaseUnavailableMiddleware(convert_exception_to_response(inner))
    response = middleware(RequestFactory().get("/cases/"))
    assert response.status_code == 503
    assert response["Retry-After"] == "5"


def test_other_errors_stay_500(db):
    def inner(request):
        raise ValueError("a bug")

    middleware = DatabaseUnavailableMiddleware(convert_exception_to_response(inner))
    assert middleware(RequestFactory().get("/cases/")).status_code == 500


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_healthz_fails_once_the_real_worker_is_down(live_server, champion, settings, tmp_path):
    import json
    import time
    import urllib.error
    import urllib.request

    from tests.helpers import running_worker

    def healthz():
        try:
            with urllib.request.urlopen(f"{live_server.url}/healthz", timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    with running_worker(tmp_path / "worker.log"):
        assert healthz() == (200, {"status": "ok", "failing": []})
    # The worker is gone; its last heartbeat ages past the (shortened) staleness window.
    settings.WORKER_HEARTBEAT_STALE_SECONDS = 2
    time.sleep(3)
    assert healthz() == (503, {"status": "unhealthy", "failing": ["worker"]})
