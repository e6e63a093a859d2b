"""GET /api/v1/transactions/<external_id> and POST /api/v1/transactions/score."""

from __future__ import annotations

import pytest

from scoring.models import Transaction
from tests.helpers import txn


@pytest.mark.django_db
def test_result_of_pending_transaction(api_client, monkeypatch):
    monkeypatch.setattr("scoring.queueing.score_batch_send", lambda ids, request_id=None: None)
    api_client.post("/api/v1/transactions", txn(), format="json")
    body = api_client.get("/api/v1/transactions/ext-1").json()
    assert body["status"] == "pending"
    assert body["risk_score"] is None and body["reasons"] == [] and body["case_id"] is None


@pytest.mark.django_db
def test_unknown_external_id_is_404(api_client):
    response = api_client.get("/api/v1/transactions/nope")
    assert response.status_code == 404
    assert "nope" in response.json()["detail"]


@pytest.mark.django_db
def test_result_needs_credentials(client):
    assert client.get("/api/v1/transactions/x").status_code in (401, 403)


@pytest.mark.django_db
def test_synchronous_score_returns_the_result(api_client, champion):
    response = api_client.post("/api/v1/transactions/score", txn(), format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "scored"
    assert 0 <= body["risk_score"] <= 100
    assert body["risk_level"] in ("low", "medium", "high", "critical")
    assert body["model_version"] == champion.version
    for reason in body["reasons"]:
        assert set(reason) == {"code", "detail", "weight"}
    # Re-posting the same transaction returns the stored result, it is not scored twice.
    again = api_client.post("/api/v1/transactions/score", txn(), format="json").json()
    assert again["scored_at"] == body["scored_at"]
    assert Transaction.objects.count() == 1


@pytest.mark.django_db
def test_synchronous_score_without_model_keeps_the_transaction(api_client):
    response = api_client.post("/api/v1/transactions/score", txn(), format="json")
    assert response.status_code == 503
    assert Transaction.objects.get().status == Transaction.Status.PENDING


@pytest.mark.django_db
def test_synchronous_score_rejects_bad_input(api_client):
    response = api_client.post("/api/v1/transactions/score", txn(amount="-3"), format="json")
    assert response.status_code == 400
    assert "amount" in response.json()["errors"]
    assert Transaction.objects.count() == 0
