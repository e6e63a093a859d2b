"""An API key's row is read at most once a second per process, never past a revocation made
in the same process, and a flood of unknown keys cannot grow what is kept."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from scoring.models import ApiKey
from scoring.services.apikeys import KEY_MAX_AGE, api_key_revoke, recent_keys

pytestmark = pytest.mark.django_db
URL = "/api/v1/transactions/no-such-id"  # any authenticated request: 404 when the key is good


def _key_queries(queries) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if "scoring_apikey" in q["sql"]]


@pytest.fixture
def clock(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr("core.recent.time", SimpleNamespace(monotonic=lambda: now[0]))
    return now


def test_the_key_row_is_read_once_within_its_age(api_client, clock):
    assert api_client.get(URL).status_code == 404
    with CaptureQueriesContext(connection) as queries:
        assert api_client.get(URL).status_code == 404
    assert _key_queries(queries) == []  # neither the lookup nor the last-used write
    clock[0] += KEY_MAX_AGE + 0.1
    with CaptureQueriesContext(connection) as queries:
        assert api_client.get(URL).status_code == 404
    assert len(_key_queries(queries)) == 1  # read again; last_used_at is still fresh


def test_a_revocation_in_this_process_is_refused_at_once(api_key, api_client, clock):
    assert api_client.get(URL).status_code == 404
    api_key_revoke(key=ApiKey.objects.get(pk=api_key[0].pk))
    response = api_client.get(URL)
    assert response.status_code == 401 and "revoked" in response.json()["detail"]


def test_a_revocation_elsewhere_is_refused_once_the_age_has_passed(api_key, api_client, clock):
    assert api_client.get(URL).status_code == 404
    # Another process revokes it: this process gets no signal.
    ApiKey.objects.filter(pk=api_key[0].pk).update(revoked_at=timezone.now())
    assert api_client.get(URL).status_code == 404  # within the documented second
    clock[0] += KEY_MAX_AGE + 0.1
    response = api_client.get(URL)
    assert response.status_code == 401 and "revoked" in response.json()["detail"]


def test_the_last_use_is_written_once_a_minute(api_key, api_client, clock):
    assert api_client.get(URL).status_code == 404
    first = ApiKey.objects.get(pk=api_key[0].pk).last_used_at
    assert first is not None
    clock[0] += KEY_MAX_AGE + 0.1
    assert api_client.get(URL).status_code == 404
    assert ApiKey.objects.get(pk=api_key[0].pk).last_used_at == first


def test_unknown_keys_do_not_grow_what_is_kept(api_key):
    client = APIClient()
    for n in range(recent_keys.max_items + 40):
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key fck_{n:08x}_not-a-secret")
        assert client.get(URL).status_code == 401
    assert len(recent_keys._values) <= recent_keys.max_items
    good = APIClient()
    good.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key[1]}")
    assert good.get(URL).status_code == 404
