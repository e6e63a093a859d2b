"""/healthz and /metrics."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from scoring.models import WorkerHeartbeat


@pytest.mark.django_db
def test_healthz_names_the_missing_worker(client):
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["worker"]
    assert body["checks"]["database"]["ok"] and body["checks"]["broker"]["ok"]


@pytest.mark.django_db
def test_healthz_ignores_a_stale_heartbeat(client, settings):
    WorkerHeartbeat.objects.create(
        hostname="old@host",
        last_seen=timezone.now() - timedelta(seconds=settings.WORKER_HEARTBEAT_STALE_SECONDS + 1),
    )
    assert client.get("/healthz").status_code == 503
    WorkerHeartbeat.objects.create(hostname="new@host", last_seen=timezone.now())
    response = client.get("/healthz")
    assert response.status_code == 200, response.json()


@pytest.mark.django_db
def test_healthz_reports_a_dead_broker(client, monkeypatch):
    from fraudcases.celery import app

    WorkerHeartbeat.objects.create(hostname="w@h", last_seen=timezone.now())
    real = app.connection_for_write
    # A real connection attempt to a port nothing listens on.
    monkeypatch.setattr(app, "connection_for_write", lambda: real(url="redis://127.0.0.1:1/0"))
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["broker"]


@pytest.mark.django_db
def test_metrics_need_credentials(client):
    assert client.get("/metrics").status_code == 401


@pytest.mark.django_db
def test_metrics_in_prometheus_format(api_key, client):
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Api-Key {api_key[1]}")
    assert response.status_code == 200
    text = response.content.decode()
    assert response["Content-Type"].startswith("text/plain")
    assert "# TYPE fraudcases_transactions gauge" in text
    assert 'fraudcases_transactions{status="pending"} 0' in text
    assert "fraudcases_cases_sla_breached 0" in text
