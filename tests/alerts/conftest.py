"""Fixtures of the alerts tests: people, channels (created through the services), receivers."""

from __future__ import annotations

import pytest

from alerts.services import alert_rule_create, channel_create

from .helpers import Receiver


@pytest.fixture
def admin_user(make_user):
    return make_user("admin", "alerts-admin")


@pytest.fixture
def supervisor(make_user):
    return make_user("supervisor", "alerts-supervisor")


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def fast_retries(settings):
    settings.ALERTS_RETRY_BASE_SECONDS = 0.01
    settings.ALERTS_RETRY_MAX_SECONDS = 0.02
    settings.ALERTS_MAX_ATTEMPTS = 3
    settings.ALERTS_HTTP_TIMEOUT_SECONDS = 5
    return settings


@pytest.fixture
def webhook(admin_user, receiver):
    """A signed webhook channel to the local receiver, with a rule for high and critical."""
    channel = channel_create(
        actor=admin_user,
        name="core-banking",
        kind="webhook",
        target=f"{receiver.url}/hooks/fraud",
        secret="whsec-test-0123456789",
    )
    alert_rule_create(actor=admin_user, name="high+", channels=[channel], min_risk_level="high")
    return channel
