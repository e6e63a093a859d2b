"""Case API: list with filters, read, and actions; same permissions and audit as the pages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from core.models import AuditEvent
from fraudcases.models import Case
from tests.factories import CaseFactory

pytestmark = pytest.mark.django_db


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def test_anonymous_is_401_and_api_key_is_403(api_client):
    case = CaseFactory()
    assert APIClient().get("/api/v1/cases").status_code == 401
    assert APIClient().get(f"/api/v1/cases/{case.pk}").status_code == 401
    assert api_client.get("/api/v1/cases").status_code == 403


def test_list_filters_and_pagination(people):
    inv = people["investigator"]
    mine = CaseFactory(assignee=inv, priority="critical", account_id="acct-x")
    other = CaseFactory(priority="low")
    old = CaseFactory(priority="high")
    Case.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=10))
    client = client_for(inv)
    body = client.get("/api/v1/cases").json()
    assert body["count"] == 3 and {"next", "previous", "results"} <= set(body)
    row = next(r for r in body["results"] if r["id"] == mine.pk)
    assert row["assignee"] == inv.username and row["priority"] == "critical"
    assert row["sla_state"] == "ok"

    def ids(**params):
        response = client.get("/api/v1/cases", params)
        assert response.status_code == 200, response.json()
        return [r["id"] for r in response.json()["results"]]

    assert ids(priority="critical") == [mine.pk]
    assert ids(assignee="me") == [mine.pk]
    assert ids(assignee=inv.username) == [mine.pk]
    assert set(ids(assignee="none")) == {other.pk, old.pk}
    assert ids(account_id="acct-x") == [mine.pk]
    assert ids(status="new", priority="low") == [other.pk]
    since = (timezone.now() - timedelta(days=1)).isoformat()
    assert set(ids(created_from=since)) == {mine.pk, other.pk}
    until = (timezone.now() - timedelta(days=5)).isoformat()
    assert ids(created_to=until) == [old.pk]


def test_bad_filters_are_400_with_field_errors(people):
    client = client_for(people["auditor"])
    response = client.get("/api/v1/cases", {"status": "bogus", "created_from": "yesterday"})
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert "status" in errors and "created_from" in errors


def test_detail_includes_transactions_and_notes(people):
    case = CaseFactory(transactions=2)
    response = client_for(people["auditor"]).get(f"/api/v1/cases/{case.pk}")
    assert response.status_code == 200
    body = response.json()
    assert len(body["transactions"]) == 2
    assert body["transactions"][0]["reasons"][0]["code"] == "velocity"
    assert client_for(people["auditor"]).get("/api/v1/cases/999999").status_code == 404


def test_actions_assign_escalate_note_close_reopen(people):
    inv, sup = client_for(people["investigator"]), client_for(people["supervisor"])
    case = CaseFactory()
    r = inv.post(f"/api/v1/cases/{case.pk}/assign", {"assignee": "inv"}, "json")
    assert r.status_code == 200 and r.json()["assignee"] == "inv"
    r = inv.post(f"/api/v1/cases/{case.pk}/note", {"body": "called the bank"}, format="json")
    assert r.status_code == 201 and r.json()["author"] == "inv"
    r = inv.post(f"/api/v1/cases/{case.pk}/escalate", {"reason": "mule ring"}, format="json")
    assert r.status_code == 200 and r.json()["status"] == "escalated"
    r = sup.post(
        f"/api/v1/cases/{case.pk}/close",
        {"disposition": "fraud_confirmed", "note": "confirmed"},
        format="json",
    )
    assert r.status_code == 200 and r.json()["disposition"] == "fraud_confirmed"
    r = sup.post(f"/api/v1/cases/{case.pk}/reopen", {"reason": "chargeback"}, format="json")
    assert r.status_code == 200 and r.json()["status"] == "in_review"
    actions = list(AuditEvent.objects.filter(case=case).values_list("action", flat=True))
    assert actions == ["case.assign", "case.note", "case.escalate", "case.close", "case.reopen"]
    assert all(
        AuditEvent.objects.filter(case=case).exclude(request_id="").values_list("id", flat=True)
    )


def test_four_eyes_through_the_api(people, make_user):
    sup2 = make_user("supervisor", "api-sup2")
    case = CaseFactory(priority="critical", risk_score=97)
    inv = client_for(people["investigator"])
    r = inv.post(
        f"/api/v1/cases/{case.pk}/close",
        {"disposition": "legitimate", "note": "known customer"},
        format="json",
    )
    assert r.status_code == 200 and r.json()["status"] == "pending_approval"
    assert r.json()["proposed_disposition"] == "legitimate"
    assert inv.post(f"/api/v1/cases/{case.pk}/approve", {}, format="json").status_code == 403
    r = client_for(sup2).post(f"/api/v1/cases/{case.pk}/approve", {}, format="json")
    assert r.status_code == 200 and r.json()["status"] == "closed"


def test_action_errors(people):
    case = CaseFactory()
    inv = client_for(people["investigator"])
    r = inv.post(f"/api/v1/cases/{case.pk}/close", {"disposition": "nope"}, format="json")
    assert r.status_code == 400
    assert {"disposition", "note"} <= set(r.json()["errors"])
    r = inv.post(f"/api/v1/cases/{case.pk}/reopen", {"reason": "x"}, format="json")
    assert r.status_code == 403  # investigators never reopen
    r = client_for(people["supervisor"]).post(
        f"/api/v1/cases/{case.pk}/reopen", {"reason": "x"}, format="json"
    )
    assert r.status_code == 409 and "cannot reopen" in r.json()["detail"]
    r = inv.post(f"/api/v1/cases/{case.pk}/explode", {}, format="json")
    assert r.status_code == 404
    r = client_for(people["auditor"]).post(
        f"/api/v1/cases/{case.pk}/note", {"body": "x"}, format="json"
    )
    assert r.status_code == 403
    r = inv.post(f"/api/v1/cases/{case.pk}/assign", {"assignee": "ghost"}, format="json")
    assert r.status_code == 400 and "assignee" in r.json()["errors"]
    assert not AuditEvent.objects.filter(case=case).exists()


def test_api_requires_csrf_for_session_writes(people):
    case = CaseFactory()
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(people["investigator"])
    r = client.post(f"/api/v1/cases/{case.pk}/note", {"body": "x"}, format="json")
    assert r.status_code == 403 and "CSRF" in r.json()["detail"]


def test_schema_lists_case_endpoints(people):
    r = client_for(people["auditor"]).get("/api/schema/", {"format": "json"})
    assert r.status_code == 200
    paths = r.json()["paths"]
    assert "/api/v1/cases" in paths and "/api/v1/cases/{id}/{action}" in paths


def test_personal_token_authenticates_people(people):
    from rest_framework.authtoken.models import Token

    case = CaseFactory()
    token = Token.objects.create(user=people["investigator"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert client.get(f"/api/v1/cases/{case.pk}").status_code == 200
    r = client.post(f"/api/v1/cases/{case.pk}/note", {"body": "via token"}, format="json")
    assert r.status_code == 201  # no CSRF for token requests
    event = AuditEvent.objects.get(case=case, action="case.note")
    assert event.actor == people["investigator"]
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert client.get("/api/v1/cases").status_code == 401
