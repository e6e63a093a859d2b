"""API budgets: one per API key, one per person (session or token); over it 429 + Retry-After."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import override_settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from scoring.services.apikeys import api_key_create

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_counts():
    cache.clear()
    yield
    cache.clear()


def rates(**scopes: str):
    return override_settings(
        REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": scopes}
    )


def key_client(name: str) -> APIClient:
    _, plaintext = api_key_create(name=name)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {plaintext}")
    return client


def test_production_defaults_name_both_budgets():
    from fraudcases.settings import base

    classes = base.REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"]
    assert classes == [
        "scoring.api.throttling.ApiKeyRateThrottle",
        "scoring.api.throttling.UserRateThrottle",
    ]
    assert set(base.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]) == {"api_key", "user"}


def test_each_api_key_has_its_own_budget():
    first, second = key_client("system-a"), key_client("system-b")
    with rates(api_key="3/min", user="100/min"):
        statuses = [first.get("/api/v1/transactions/nope").status_code for _ in range(4)]
        assert statuses == [404, 404, 404, 429]
        refused = first.get("/api/v1/transactions/nope")
        assert refused.status_code == 429
        assert int(refused["Retry-After"]) > 0
        assert "throttled" in refused.json()["detail"].lower()
        # Another key is not affected.
        assert second.get("/api/v1/transactions/nope").status_code == 404


def test_each_person_has_one_budget_whatever_the_way_in(make_user):
    user = make_user("investigator", "budgeted")
    other = make_user("investigator", "unbudgeted")
    session = APIClient()
    session.force_login(user)
    token = APIClient()
    token.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    with rates(api_key="100/min", user="3/min"):
        assert session.get("/api/v1/cases").status_code == 200
        assert token.get("/api/v1/cases").status_code == 200
        assert session.get("/api/v1/cases").status_code == 200
        refused = token.get("/api/v1/cases")
        assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
        colleague = APIClient()
        colleague.force_login(other)
        assert colleague.get("/api/v1/cases").status_code == 200
        # API keys are counted on their own budget, not on a shared "user" one.
        assert key_client("system-c").get("/api/v1/transactions/nope").status_code == 404


def test_anonymous_callers_get_401_not_a_shared_budget():
    with rates(api_key="1/min", user="1/min"):
        for _ in range(3):
            assert APIClient().get("/api/v1/cases").status_code in (401, 403)
