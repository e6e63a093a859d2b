"""Account actions end to end through the services: request, four-eyes approval, the signed
webhook to a real local HTTP receiver, delivery state flowing back, core banking's result, and
the audit event of every step."""

from __future__ import annotations

import hmac

import pytest
from django.core import mail
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from alerts.models import Channel, Delivery
from alerts.services import channel_create, delivery_resend
from core.errors import ApplicationError, ConflictError, PermissionDeniedError
from core.models import AuditEvent
from fraudcases.account_actions.selectors import account_action_panel
from fraudcases.models import AccountAction
from fraudcases.services.account_actions import (
    account_action_approve,
    account_action_reject,
    account_action_request,
    account_action_result,
)
from scoring.api.authentication import ApiClient
from scoring.services.apikeys import api_key_create
from tests.alerts.helpers import run_until_final

from .helpers import actions_since, last_event_id, route_since

pytestmark = pytest.mark.django_db
S = AccountAction.Status
SECRET = b"whsec-test-0123456789"  # the alerts tests' webhook channel


def _key():
    return api_key_create(name="core-banking")[0]


def _merchant(case) -> str:
    return case.transactions.order_by("id").first().merchant_id


def _valid_signature(request) -> bool:
    mac = hmac.new(SECRET, request.headers["X-Timestamp"].encode() + b"." + request.body, "sha256")
    return hmac.compare_digest(request.headers["X-Signature"], "sha256=" + mac.hexdigest())


def test_request_approval_signed_webhook_and_result(people, case, webhook, receiver, api_key):
    since = last_event_id()
    action = account_action_request(
        case=case, actor=people["inv"], kind="hold_payments", reason="Mule pattern, hold it"
    )
    assert action.status == S.AWAITING_APPROVAL and action.needs_approval
    assert route_since(since) == []  # awaiting approval: nothing leaves
    mark = last_event_id()
    account_action_approve(action=action, actor=people["sup"], note="Agreed")
    (delivery,) = route_since(mark)
    assert delivery.channel == webhook and delivery.rule is None
    delivery = run_until_final(delivery)
    assert delivery.status == Delivery.Status.SENT

    (request,) = receiver.requests
    assert _valid_signature(request)
    assert request.headers["X-Event-Type"] == "account_action.approved"
    assert request.headers["X-Delivery-Id"] == str(delivery.delivery_id)
    body = request.json()
    sent = body["account_action"]
    assert body["event"] == "account_action.approved" and body["case"]["id"] == case.pk
    assert sent == sent | {
        "id": action.pk,
        "idempotency_key": str(action.idempotency_key),
        "kind": "hold_payments",
        "account_id": case.account_id,
        "merchant_id": None,
        "case_id": case.pk,
        "reason": "Mule pattern, hold it",
        "requested_by": "inv",
        "approval": "supervisor",
        "approved_by": "sup",
    }
    assert sent["result_url"].endswith(f"/api/v1/account-actions/{action.pk}/result")

    action.refresh_from_db()
    assert action.status == S.DELIVERED and action.delivery_ref == str(delivery.delivery_id)
    client = ApiClient(key=api_key[0])
    action, changed = account_action_result(
        action=action,
        client=client,
        outcome="done",
        idempotency_key=sent["idempotency_key"],
        reference="CB-991",
    )
    assert changed and action.status == S.CONFIRMED and action.result_reference == "CB-991"
    assert actions_since(since) == [
        "account_action.request",
        "account_action.approve",
        "account_action.deliver",
        "account_action.result",
    ]
    events = AuditEvent.objects.filter(id__gt=since).order_by("id")
    assert {e.case_id for e in events} == {case.pk}
    assert {e.object_id for e in events} == {str(action.pk)}
    assert [e.actor_label for e in events] == [
        "user:inv",
        "user:sup",
        "system:alerts",
        "api:test-system",
    ]
    assert events[3].after["status"] == "confirmed" and events[3].after["outcome"] == "done"


def test_a_kind_without_approval_goes_straight_out(people, case, webhook, receiver):
    since = last_event_id()
    action = account_action_request(
        case=case, actor=people["inv"], kind="block_card", reason="Card testing burst"
    )
    assert action.status == S.APPROVED and not action.needs_approval
    approve = AuditEvent.objects.get(id__gt=since, action="account_action.approve")
    assert approve.actor_label == "system:account-action-policy"
    assert approve.after["approval"] == "not_required"
    (delivery,) = route_since(since)
    assert run_until_final(delivery).status == Delivery.Status.SENT
    assert receiver.requests[0].json()["account_action"]["approval"] == "not_required"
    action.refresh_from_db()
    assert action.status == S.DELIVERED


def test_the_approval_policy_is_a_setting(people, case, settings):
    settings.ACCOUNT_ACTIONS_APPROVAL_REQUIRED = ["block_card"]
    blocked = account_action_request(case=case, actor=people["inv"], kind="block_card", reason="x")
    assert blocked.status == S.AWAITING_APPROVAL
    held = account_action_request(case=case, actor=people["inv"], kind="hold_payments", reason="x")
    assert held.status == S.APPROVED
    settings.ACCOUNT_ACTIONS_APPROVAL_REQUIRED = ["hold_payment"]  # a typo: never "no approval"
    count = AccountAction.objects.count()
    with pytest.raises(ConflictError, match=r"unknown kind.*hold_payment"):
        account_action_request(case=case, actor=people["sup"], kind="hold_payments", reason="x")
    assert AccountAction.objects.count() == count
    panel = account_action_panel(user=people["inv"], case=case)  # the page still renders
    assert all(k["needs_approval"] for k in panel["kinds"])
    with pytest.raises(SystemCheckError, match=r"fraudcases\.E101"):
        call_command("check")


def test_four_eyes_nobody_decides_on_their_own_request(people, case):
    action = account_action_request(
        case=case, actor=people["sup"], kind="hold_payments", reason="Supervisor asks"
    )
    with pytest.raises(PermissionDeniedError, match="Four-eyes"):
        account_action_approve(action=action, actor=people["sup"])
    with pytest.raises(PermissionDeniedError, match="Four-eyes"):
        account_action_reject(action=action, actor=people["sup"], note="no")
    for who in ("inv", "admin", "auditor"):
        with pytest.raises(PermissionDeniedError):
            account_action_approve(action=action, actor=people[who])
    action.refresh_from_db()
    assert action.status == S.AWAITING_APPROVAL
    account_action_approve(action=action, actor=people["sup2"])
    action.refresh_from_db()
    assert action.status == S.APPROVED and action.decided_by == people["sup2"]


def test_a_rejected_action_is_never_sent(people, case, webhook, receiver):
    since = last_event_id()
    action = account_action_request(
        case=case, actor=people["inv"], kind="hold_payments", reason="Maybe"
    )
    with pytest.raises(ApplicationError, match="reason for the rejection"):
        account_action_reject(action=action, actor=people["sup"], note=" ")
    account_action_reject(action=action, actor=people["sup"], note="Not enough evidence")
    with pytest.raises(ConflictError, match="rejected"):
        account_action_approve(action=action, actor=people["sup2"])
    assert route_since(since) == []
    assert not Delivery.objects.filter(event_type="account_action.approved").exists()
    assert receiver.requests == []
    action.refresh_from_db()
    assert action.status == S.REJECTED and action.decision_note == "Not enough evidence"
    assert actions_since(since) == ["account_action.request", "account_action.reject"]
    with pytest.raises(ConflictError, match="never sent"):
        account_action_result(
            action=action,
            client=ApiClient(key=_key()),
            outcome="done",
            idempotency_key=str(action.idempotency_key),
        )


def test_a_dead_delivery_fails_the_action_and_a_resend_delivers_it(
    people, case, webhook, receiver, fast_retries
):
    receiver.default = 503
    since = last_event_id()
    action = account_action_request(case=case, actor=people["inv"], kind="block_card", reason="x")
    (delivery,) = route_since(since)
    assert run_until_final(delivery).status == Delivery.Status.DEAD
    action.refresh_from_db()
    assert action.status == S.FAILED and "gave up" in action.failure_reason
    assert "account_action.delivery_failed" in actions_since(since)
    receiver.default = 200
    delivery_resend(actor=people["sup"], delivery=delivery)
    assert run_until_final(delivery).status == Delivery.Status.SENT
    action.refresh_from_db()
    assert action.status == S.DELIVERED and not action.failure_reason
    bodies = {r.body for r in receiver.requests}
    assert len(bodies) == 1  # the same body (and idempotency key) on every attempt


def test_without_a_webhook_channel_the_action_fails_at_once(people, case, admin_user):
    channel_create(actor=admin_user, name="team-mail", kind="email", target="t@example.test")
    Channel.objects.filter(name="team-mail").update(events=["account_action.approved"])
    since = last_event_id()
    action = account_action_request(case=case, actor=people["inv"], kind="block_card", reason="x")
    (email,) = route_since(since)  # people are told; core banking cannot be
    assert email.channel.kind == "email"
    action.refresh_from_db()
    assert action.status == S.FAILED
    assert "No active signed-webhook channel" in action.failure_reason
    assert run_until_final(email).status == Delivery.Status.SENT
    (message,) = mail.outbox
    assert f"Account action approved for case #{case.pk}" in message.subject


def test_investigators_request_only_on_their_own_or_unassigned_cases(people, case):
    case.assignee = people["inv2"]
    case.save(update_fields=["assignee"])
    with pytest.raises(PermissionDeniedError, match="assigned to someone else"):
        account_action_request(case=case, actor=people["inv"], kind="block_card", reason="x")
    for who in ("admin", "auditor"):
        with pytest.raises(PermissionDeniedError):
            account_action_request(case=case, actor=people[who], kind="block_card", reason="x")
    assert account_action_request(case=case, actor=people["inv2"], kind="block_card", reason="x")
    assert account_action_request(case=case, actor=people["sup"], kind="hold_payments", reason="x")


def test_bad_input_is_refused_with_the_field_named(people, case):
    def refused(field, **kw):
        with pytest.raises(ApplicationError) as exc:
            account_action_request(case=case, actor=people["inv"], **{"reason": "x", **kw})
        assert field in exc.value.extra, exc.value.extra
        return exc.value

    assert "One of" in refused("kind", kind="close_account").extra["kind"][0]
    refused("merchant_id", kind="allow_merchant")
    assert "not on case" in refused("merchant_id", kind="allow_merchant", merchant_id="m-x").message
    refused("merchant_id", kind="block_card", merchant_id=_merchant(case))
    refused("reason", kind="block_card", reason="  ")
    assert not AccountAction.objects.exists()
    allowed = account_action_request(
        case=case,
        actor=people["inv"],
        kind="allow_merchant",
        merchant_id=_merchant(case),
        reason="ok",
    )
    assert allowed.merchant_id == _merchant(case) and allowed.status == S.AWAITING_APPROVAL


def test_one_in_flight_action_per_account_kind_and_merchant(people, case):
    first = account_action_request(case=case, actor=people["inv"], kind="hold_payments", reason="x")
    with pytest.raises(ConflictError, match="already requested"):
        account_action_request(case=case, actor=people["sup"], kind="hold_payments", reason="y")
    account_action_reject(action=first, actor=people["sup"], note="no")
    assert account_action_request(case=case, actor=people["sup"], kind="hold_payments", reason="y")


def test_results_are_idempotent_checked_and_come_from_allowed_keys(people, case, settings):
    action = account_action_request(case=case, actor=people["inv"], kind="block_card", reason="x")
    client = ApiClient(key=_key())
    key = str(action.idempotency_key)
    with pytest.raises(ApplicationError) as exc:
        account_action_result(
            action=action, client=client, outcome="done", idempotency_key="0" * 32
        )
    assert "idempotency_key" in exc.value.extra
    with pytest.raises(PermissionDeniedError):
        account_action_result(
            action=action, client=people["sup"], outcome="done", idempotency_key=key
        )
    settings.ACCOUNT_ACTIONS_RESULT_API_KEYS = ["core-banking-prod"]
    with pytest.raises(PermissionDeniedError, match="ACCOUNT_ACTIONS_RESULT_API_KEYS"):
        account_action_result(action=action, client=client, outcome="done", idempotency_key=key)
    settings.ACCOUNT_ACTIONS_RESULT_API_KEYS = ["core-banking"]
    # The callback may overtake the delivery's own 2xx being recorded: accepted from approved.
    action, changed = account_action_result(
        action=action, client=client, outcome="failed", idempotency_key=key, detail="Card unknown"
    )
    assert changed and action.status == S.FAILED
    assert action.failure_reason == "Core banking: Card unknown"
    since = last_event_id()
    again, changed = account_action_result(
        action=action, client=client, outcome="failed", idempotency_key=key
    )
    assert not changed and again.status == S.FAILED and last_event_id() == since
    with pytest.raises(ConflictError, match="already reported"):
        account_action_result(action=action, client=client, outcome="done", idempotency_key=key)
