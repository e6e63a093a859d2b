"""The shared cache survives its Redis going away: misses and skipped writes, never a 500."""

from __future__ import annotations

import logging
import socket

import pytest
from django.conf import settings
from django.core.cache import caches
from django.test import override_settings
from rest_framework.test import APIClient

from core.cache import ResilientRedisCache
from scoring.services.apikeys import api_key_create


def _closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def dead_redis_cache():
    return override_settings(
        CACHES={
            "default": {
                "BACKEND": "core.cache.ResilientRedisCache",
                "LOCATION": f"redis://127.0.0.1:{_closed_port()}/0",
                "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
            }
        }
    )


def test_reads_miss_and_writes_are_skipped_while_redis_is_down(caplog, monkeypatch):
    monkeypatch.setattr(ResilientRedisCache, "_last_warning", None)
    with dead_redis_cache():
        cache = caches["default"]
        assert isinstance(cache, ResilientRedisCache)
        with caplog.at_level(logging.WARNING, logger="core.cache"):
            cache.set("k", 1, 30)
            assert cache.get("k", "default") == "default"
            assert cache.get_many(["k", "j"]) == {}
            assert cache.add("k", 2) is False
            assert cache.has_key("k") is False
            assert cache.delete("k") is False
            assert cache.set_many({"a": 1}) == ["a"]
    assert any("Cache unreachable" in r.getMessage() for r in caplog.records)


@pytest.mark.skipif(
    not settings.CELERY_BROKER_URL.startswith("redis://"), reason="needs the configured Redis"
)
def test_with_redis_up_it_is_an_ordinary_cache():
    location = settings.CELERY_BROKER_URL.rsplit("/", 1)[0] + "/12"
    with override_settings(
        CACHES={"default": {"BACKEND": "core.cache.ResilientRedisCache", "LOCATION": location}}
    ):
        cache = caches["default"]
        cache.set("fc-test-key", {"n": 1}, 30)
        assert cache.get("fc-test-key") == {"n": 1}
        assert cache.add("fc-test-key", 2) is False
        assert cache.delete("fc-test-key") is True


def test_production_settings_use_the_resilient_backend_for_redis(monkeypatch):
    """base.py swaps Django's Redis backend for this one whenever the cache is a Redis."""
    import importlib

    from fraudcases.settings import base

    monkeypatch.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.delenv("CACHE_URL", raising=False)
    try:
        reloaded = importlib.reload(base)
        backend = reloaded.CACHES["default"]
        assert backend["BACKEND"] == "core.cache.ResilientRedisCache"
        assert backend["OPTIONS"]["socket_connect_timeout"] <= 1.0
    finally:
        monkeypatch.undo()
        importlib.reload(base)


@pytest.mark.django_db
def test_ingest_is_acknowledged_while_the_throttling_cache_is_down():
    """The chaos run saw a 500 here: DRF's throttle read the cache while Redis restarted."""
    _, plaintext = api_key_create(name="cache-down")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {plaintext}")
    item = {
        "external_id": "cache-down-1",
        "account_id": "acc-1",
        "amount": "12.50",
        "currency": "EUR",
        "occurred_at": "2026-11-30T10:00:00Z",
    }
    with (
        dead_redis_cache(),
        override_settings(
            REST_FRAMEWORK={
                **settings.REST_FRAMEWORK,
                "DEFAULT_THROTTLE_RATES": {"api_key": "5/min", "user": "5/min"},
            }
        ),
    ):
        response = client.post("/api/v1/transactions", {"transactions": [item]}, format="json")
    assert response.status_code == 202, response.content
    assert response.json() == {"accepted": 1, "duplicates": 0}
