"""Delivery against a real local HTTP server that fails on purpose: attempts, retries with
backoff, the dead state, auto-pause, resend, a lost claim, secrets."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket

import pytest

from alerts.models import Channel, Delivery, DeliveryAttempt
from alerts.services import (
    alert_rule_create,
    channel_create,
    channel_resume,
    channel_send_test,
    delivery_attempt,
    delivery_resend,
)
from alerts.services.delivery import _claim
from core.models import AuditEvent

from .helpers import routed, run_until_final

pytestmark = pytest.mark.django_db


def test_signed_webhook_is_delivered_with_the_documented_headers(webhook, receiver):
    delivery = run_until_final(routed())
    assert delivery.status == Delivery.Status.SENT and delivery.sent_at
    (request,) = receiver.requests
    assert request.path == "/hooks/fraud"
    headers = request.headers
    assert headers["X-Delivery-Id"] == str(delivery.delivery_id)
    assert headers["X-Event-Type"] == "case.opened"
    expected = hmac.new(
        b"whsec-test-0123456789",
        headers["X-Timestamp"].encode() + b"." + request.body,
        hashlib.sha256,
    ).hexdigest()
    assert headers["X-Signature"] == f"sha256={expected}"
    body = request.json()
    assert body["event"] == "case.opened" and body["delivery_id"] == str(delivery.delivery_id)
    case = body["case"]
    assert case["account_id"] == "acct-d1" and case["url"].endswith(f"/cases/{case['id']}/")
    assert {r["code"] for r in case["reasons"]} == {"velocity", "new_device"}
    assert all(r["label"] and r["detail"] for r in case["reasons"])
    (attempt,) = delivery.attempt_log.all()
    assert attempt.outcome == "success" and attempt.status_code == 200
    assert attempt.latency_ms is not None and attempt.response_excerpt == "ok"


def test_transient_failures_are_retried_with_the_same_delivery_id(webhook, receiver, fast_retries):
    receiver.script = [500, 503]
    delivery = run_until_final(routed())
    assert delivery.status == Delivery.Status.SENT
    attempts = list(delivery.attempt_log.order_by("number"))
    assert [(a.outcome, a.status_code) for a in attempts] == [
        ("transient", 500),
        ("transient", 503),
        ("success", 200),
    ]
    assert "failing on purpose" in attempts[0].response_excerpt
    assert attempts[0].error.startswith("HTTP 500")
    assert len({r.headers["X-Delivery-Id"] for r in receiver.requests}) == 1
    assert len({r.body for r in receiver.requests}) == 1  # the body is fixed at the first try


def test_dead_after_the_last_retry_without_pausing_the_channel(webhook, receiver, fast_retries):
    receiver.default = 503
    delivery = run_until_final(routed())
    assert delivery.status == Delivery.Status.DEAD
    assert delivery.attempts == 3 and "Gave up after 3 attempts" in delivery.last_error
    assert len(receiver.requests) == 3
    webhook.refresh_from_db()
    assert not webhook.is_paused and webhook.consecutive_failures == 0


def test_a_refused_connection_is_transient(admin_user, fast_retries):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    channel = channel_create(
        actor=admin_user,
        name="down",
        kind="webhook",
        target=f"http://127.0.0.1:{port}/x",
        secret="s",
    )
    alert_rule_create(actor=admin_user, name="r", channels=[channel], min_risk_level="high")
    delivery = run_until_final(routed())
    assert delivery.status == Delivery.Status.DEAD
    outcomes = set(delivery.attempt_log.values_list("outcome", flat=True))
    assert outcomes == {"transient"}
    assert "refused" in delivery.attempt_log.first().error.lower()


def test_permanent_failures_go_dead_at_once_and_pause_the_channel(
    webhook, receiver, fast_retries, settings, admin_user
):
    settings.ALERTS_AUTOPAUSE_AFTER = 2
    receiver.default = 410
    first = run_until_final(routed("acct-p1"))
    assert first.status == Delivery.Status.DEAD and first.attempts == 1
    webhook.refresh_from_db()
    assert webhook.consecutive_failures == 1 and not webhook.is_paused

    second = run_until_final(routed("acct-p2"))
    assert second.status == Delivery.Status.DEAD
    webhook.refresh_from_db()
    assert webhook.is_paused
    assert "2 permanent failures in a row" in webhook.paused_reason
    assert "HTTP 410" in webhook.paused_reason
    event = AuditEvent.objects.get(action="alerts.channel_autopause")
    assert event.actor_label == "system:alerts" and event.object_id == str(webhook.pk)

    held = routed("acct-p3")
    assert held.status == Delivery.Status.HELD
    assert len(receiver.requests) == 2

    receiver.default = 200
    assert channel_resume(actor=admin_user, channel=webhook) == 1
    assert run_until_final(held).status == Delivery.Status.SENT


def test_redirects_are_not_followed(webhook, receiver, fast_retries):
    receiver.default = 302
    delivery = run_until_final(routed())
    assert delivery.status == Delivery.Status.DEAD
    assert "not followed" in delivery.last_error
    assert len(receiver.requests) == 1


def test_resend_sends_a_dead_delivery_again_with_its_id(
    webhook, receiver, fast_retries, supervisor
):
    receiver.default = 503
    delivery = run_until_final(routed())
    assert delivery.status == Delivery.Status.DEAD
    receiver.default = 200
    delivery_resend(actor=supervisor, delivery=delivery)
    delivery = run_until_final(delivery)
    assert delivery.status == Delivery.Status.SENT and delivery.attempts == 4
    assert {r.headers["X-Delivery-Id"] for r in receiver.requests} == {str(delivery.delivery_id)}
    audit = AuditEvent.objects.get(action="alerts.delivery_resend")
    assert audit.actor_label == "user:alerts-supervisor"


def test_a_claim_left_by_a_dead_worker_is_retried_after_the_lease(webhook, receiver, settings):
    delivery = routed()
    claim = _claim(delivery_id=delivery.pk, worker="doomed")  # claimed, then the worker "dies"
    assert claim is not None
    assert delivery_attempt(delivery_id=delivery.pk) == "skipped"  # still within the lease
    settings.ALERTS_DELIVERY_LEASE_SECONDS = 0
    assert delivery_attempt(delivery_id=delivery.pk, worker="rescuer") == "sent"
    attempts = list(delivery.attempt_log.order_by("number"))
    assert [(a.outcome, a.worker) for a in attempts] == [
        ("lost", "doomed"),
        ("success", "rescuer"),
    ]
    assert len(receiver.requests) == 1


def test_a_missing_environment_secret_is_a_clear_permanent_failure(admin_user, receiver):
    channel = channel_create(
        actor=admin_user,
        name="env",
        kind="webhook",
        target=receiver.url,
        secret_env="ALERTS_TEST_UNSET_SECRET",
    )
    alert_rule_create(actor=admin_user, name="r", channels=[channel], min_risk_level="high")
    delivery = run_until_final(routed())
    assert delivery.status == Delivery.Status.DEAD
    assert "ALERTS_TEST_UNSET_SECRET is not set" in delivery.last_error
    assert not receiver.requests


def test_environment_secret_is_read_at_send_time(admin_user, receiver, monkeypatch):
    monkeypatch.setenv("ALERTS_TEST_SECRET", "from-the-environment")
    channel = channel_create(
        actor=admin_user,
        name="env",
        kind="webhook",
        target=receiver.url,
        secret_env="ALERTS_TEST_SECRET",
    )
    alert_rule_create(actor=admin_user, name="r", channels=[channel], min_risk_level="high")
    assert run_until_final(routed()).status == Delivery.Status.SENT
    (request,) = receiver.requests
    expected = hmac.new(
        b"from-the-environment",
        request.headers["X-Timestamp"].encode() + b"." + request.body,
        hashlib.sha256,
    ).hexdigest()
    assert request.headers["X-Signature"] == f"sha256={expected}"


def test_send_test_message(webhook, receiver, supervisor):
    delivery = channel_send_test(actor=supervisor, channel=webhook)
    assert run_until_final(delivery).status == Delivery.Status.SENT
    body = receiver.requests[0].json()
    assert body["test"] is True and body["event"] == "test" and body["case"] is None
    assert AuditEvent.objects.filter(action="alerts.channel_test").count() == 1


def test_secrets_are_encrypted_and_never_audited(webhook):
    channel = Channel.objects.get(pk=webhook.pk)
    assert channel.secret_encrypted and "whsec-test" not in channel.secret_encrypted
    dumped = json.dumps(list(AuditEvent.objects.values("before", "after", "note")), default=str)
    assert "whsec-test" not in dumped
    assert DeliveryAttempt.objects.count() == 0
