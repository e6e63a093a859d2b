"""Account actions over HTTP: the case API (list, request, approve, reject), core banking's
result callback with its API key, the case page's forms and panel, the supervisor page."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from core.models import AuditEvent
from fraudcases.models import AccountAction
from fraudcases.services.account_actions import account_action_request

from .helpers import last_event_id

pytestmark = pytest.mark.django_db
S = AccountAction.Status


def _api(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_login(user)
    return client


def _url(case, *rest) -> str:
    return "/".join([f"/api/v1/cases/{case.pk}/account-actions", *map(str, rest)])


def test_request_over_the_api_and_read_it_back(people, case):
    response = _api(people["inv"]).post(
        _url(case), {"kind": "hold_payments", "reason": "Money mule"}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["kind"] == "hold_payments" and body["status"] == "awaiting_approval"
    assert body["requested_by"] == "inv" and body["needs_approval"] is True
    assert AuditEvent.objects.filter(action="account_action.request", case=case).count() == 1
    for who in ("inv", "sup", "admin", "auditor"):
        listing = _api(people[who]).get(_url(case))
        assert listing.status_code == 200
        assert [a["id"] for a in listing.json()] == [body["id"]]
    assert _api().get(_url(case)).status_code == 401


@pytest.mark.parametrize(
    "data,field",
    [
        ({"kind": "close_account", "reason": "x"}, "kind"),
        ({"kind": "allow_merchant", "reason": "x", "merchant_id": "m-not-here"}, "merchant_id"),
        ({"kind": "allow_merchant", "reason": "x"}, "merchant_id"),
        ({"kind": "block_card", "reason": "x", "merchant_id": "m-0"}, "merchant_id"),
        ({"kind": "block_card"}, "reason"),
        ({"kind": "block_card", "reason": "x", "merchant": "m-1"}, "merchant"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(people, case, data, field):
    response = _api(people["inv"]).post(_url(case), data, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"], response.json()
    assert not AccountAction.objects.exists()


def test_roles_and_ownership_over_the_api(people, case):
    data = {"kind": "block_card", "reason": "x"}
    for who in ("admin", "auditor"):
        assert _api(people[who]).post(_url(case), data, format="json").status_code == 403
    case.assignee = people["inv2"]
    case.save(update_fields=["assignee"])
    response = _api(people["inv"]).post(_url(case), data, format="json")
    assert response.status_code == 403 and "assigned to someone else" in response.json()["detail"]
    assert _api().post(_url(case), data, format="json").status_code == 401
    assert not AccountAction.objects.exists()


def test_approve_and_reject_endpoints(people, case):
    action = account_action_request(
        case=case, actor=people["sup"], kind="hold_payments", reason="x"
    )
    approve = _url(case, action.pk, "approve")
    assert _api(people["inv"]).post(approve, {}, format="json").status_code == 403
    own = _api(people["sup"]).post(approve, {}, format="json")
    assert own.status_code == 403 and "Four-eyes" in own.json()["detail"]
    reject = _api(people["sup2"]).post(_url(case, action.pk, "reject"), {}, format="json")
    assert reject.status_code == 400 and "note" in reject.json()["errors"]
    done = _api(people["sup2"]).post(approve, {"note": "fine"}, format="json")
    assert done.status_code == 200 and done.json()["status"] == "approved"
    assert done.json()["decided_by"] == "sup2"
    again = _api(people["sup2"]).post(approve, {}, format="json")
    assert again.status_code == 409
    other = account_action_request(case=case, actor=people["inv"], kind="block_card", reason="y")
    missing = _api(people["sup2"]).post(_url(case, other.pk + 1000, "approve"), {}, format="json")
    assert missing.status_code == 404


def test_core_banking_reports_the_result_with_its_api_key(people, case, api_client):
    action = account_action_request(case=case, actor=people["inv"], kind="block_card", reason="x")
    url = f"/api/v1/account-actions/{action.pk}/result"
    body = {"idempotency_key": str(action.idempotency_key), "outcome": "done", "reference": "CB-1"}
    assert _api().post(url, body, format="json").status_code == 401
    assert _api(people["sup"]).post(url, body, format="json").status_code == 403
    wrong = api_client.post(url, body | {"idempotency_key": "0" * 32}, format="json")
    assert wrong.status_code == 400 and "idempotency_key" in wrong.json()["errors"]
    bad = api_client.post(url, body | {"outcome": "maybe"}, format="json")
    assert bad.status_code == 400 and "outcome" in bad.json()["errors"]
    assert api_client.post(url, ["x"], format="json").status_code == 400
    ok = api_client.post(url, body, format="json")
    assert ok.status_code == 200 and ok.json()["status"] == "confirmed"
    since = last_event_id()
    assert api_client.post(url, body, format="json").status_code == 200  # a retry: no change
    assert last_event_id() == since
    conflict = api_client.post(url, body | {"outcome": "failed"}, format="json")
    assert conflict.status_code == 409
    assert api_client.post("/api/v1/account-actions/99999999/result", body).status_code == 404
    event = AuditEvent.objects.get(action="account_action.result")
    assert event.actor_label == "api:test-system" and event.case_id == case.pk


def test_the_case_page_requests_approves_and_shows_the_state(people, case):
    investigator, supervisor = Client(), Client()
    investigator.force_login(people["inv"])
    supervisor.force_login(people["sup"])
    page = f"/cases/{case.pk}/account-actions/"
    response = investigator.post(page, {"kind": "hold_payments", "reason": "Hold it"})
    assert response.status_code == 302 and response["Location"].endswith("#account-actions")
    action = AccountAction.objects.get()
    panel = investigator.get(page)
    assert panel.status_code == 200
    html = panel.content.decode()
    assert "Awaiting approval" in html and "Request an account action" in html
    assert f"/account-actions/{action.pk}/approve/" not in html  # not theirs to decide
    sup_panel = supervisor.get(page).content.decode()
    assert f"/account-actions/{action.pk}/approve/" in sup_panel
    assert investigator.post(f"{page}{action.pk}/approve/").status_code == 403
    assert supervisor.post(f"{page}{action.pk}/approve/", {"note": ""}).status_code == 302
    action.refresh_from_db()
    assert action.status == S.APPROVED and action.decided_by == people["sup"]
    auditor = Client()
    auditor.force_login(people["auditor"])
    read = auditor.get(page).content.decode()
    assert "Approved" in read and "Request an account action" not in read


def test_the_case_page_shows_a_refusal_with_the_form_kept(people, case):
    client = Client()
    client.force_login(people["inv"])
    page = f"/cases/{case.pk}/account-actions/"
    response = client.post(page, {"kind": "allow_merchant", "merchant_id": "", "reason": "Known"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "Name the merchant to allow-list" in html
    assert 'id="account-actions"' in html and "Known</textarea>" in html  # the panel, kept
    assert not AccountAction.objects.exists()
    assert client.post(page, {"kind": "nope", "reason": "x"}).status_code == 400


def test_the_supervisor_page_lists_pending_approvals(people, case):
    action = account_action_request(
        case=case, actor=people["inv"], kind="hold_payments", reason="Pending one"
    )
    client = Client()
    client.force_login(people["sup"])
    html = client.get("/supervisor/").content.decode()
    assert f'data-account-action="{action.pk}"' in html and "Pending one" in html
