"""POST /api/v1/transactions: contract, idempotency, and every class of bad input."""

from __future__ import annotations

import json
import math
import re
import threading

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from scoring.models import Transaction
from scoring.services.apikeys import api_key_revoke
from tests.helpers import txn

URL = "/api/v1/transactions"


@pytest.fixture
def enqueued(monkeypatch):
    """Record what would go to the broker (the boundary), so unit tests need no worker."""
    calls: list[list[int]] = []

    def fake_delay(ids, request_id=None):
        calls.append(list(ids))

    monkeypatch.setattr("scoring.queueing.score_batch_send", fake_delay)
    return calls


@pytest.mark.django_db
class TestHappyPath:
    def test_single_object_is_stored_pending_and_enqueued(
        self, api_client, enqueued, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            response = api_client.post(URL, txn(), format="json")
        assert response.status_code == 202, response.content
        assert response.json() == {"accepted": 1, "duplicates": 0}
        stored = Transaction.objects.get(external_id="ext-1")
        assert stored.status == Transaction.Status.PENDING
        assert str(stored.amount) == "125.40"
        assert stored.occurred_at.isoformat() == "2026-11-20T09:15:00+00:00"
        assert stored.metadata == {"terminal": "T-9", "risk_hint": 0.2}
        assert enqueued == [[stored.id]]

    _INSERT = r'(WITH r AS \(DELETE FROM \w+ RETURNING \*\) )?INSERT INTO "scoring_transaction"'

    def test_batch_is_a_bulk_insert_and_one_task(
        self, api_client, enqueued, django_capture_on_commit_callbacks
    ):
        items = [txn(i) for i in range(250)]
        with (
            django_capture_on_commit_callbacks(execute=True),
            CaptureQueriesContext(connection) as queries,
        ):
            response = api_client.post(URL, {"transactions": items}, format="json")
        sql = [q["sql"] for q in queries.captured_queries]
        # PostgreSQL takes the batch in one statement (fed by COPY into a scratch table, which
        # it empties as it reads: scoring.bulk); SQLite's bound-parameter limit splits it.
        inserts = [s for s in sql if re.match(self._INSERT, s)]
        fields = [f for f in Transaction._meta.concrete_fields if not f.primary_key]
        rows_per_insert = connection.ops.bulk_batch_size(fields, items)
        expected = 1 if connection.vendor == "postgresql" else math.ceil(250 / rows_per_insert)
        assert 1 <= len(inserts) <= expected
        # The rest does not grow with the batch: key lookup, last-used stamp, savepoints, ids.
        assert len(sql) - len(inserts) <= 6, sql
        assert response.status_code == 202
        assert response.json() == {"accepted": 250, "duplicates": 0}
        assert len(enqueued) == 1 and len(enqueued[0]) == 250

    def test_currency_defaults_from_settings(self, api_client, enqueued, settings):
        item = txn()
        del item["currency"]
        assert api_client.post(URL, item, format="json").status_code == 202
        assert Transaction.objects.get().currency == settings.DEFAULT_CURRENCY

    def test_optional_fields_may_be_omitted(self, api_client, enqueued):
        item = {k: txn()[k] for k in ("external_id", "account_id", "amount", "occurred_at")}
        assert api_client.post(URL, item, format="json").status_code == 202

    def test_repost_counts_duplicates_and_stores_nothing_twice(self, api_client, enqueued):
        api_client.post(URL, {"transactions": [txn(1), txn(2)]}, format="json")
        response = api_client.post(URL, {"transactions": [txn(2), txn(3)]}, format="json")
        assert response.json() == {"accepted": 1, "duplicates": 1}
        assert Transaction.objects.count() == 3


@pytest.mark.django_db(transaction=True)
def test_racing_reposts_store_each_external_id_once(api_key, monkeypatch):
    """Two clients post overlapping batches at the same moment: every id is stored once and the
    accepted counts add up to the number of distinct ids."""
    monkeypatch.setattr("scoring.queueing.score_batch_send", lambda ids, request_id=None: None)
    batch_a = [txn(i) for i in range(0, 300)]
    batch_b = [txn(i) for i in range(150, 450)]
    results: dict[str, dict] = {}
    barrier = threading.Barrier(2)

    def post(name, items):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key[1]}")
        barrier.wait()
        try:
            results[name] = client.post(URL, {"transactions": items}, format="json").json()
        finally:
            connection.close()

    threads = [
        threading.Thread(target=post, args=("a", batch_a)),
        threading.Thread(target=post, args=("b", batch_b)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert Transaction.objects.count() == 450
    assert results["a"]["accepted"] + results["b"]["accepted"] == 450
    assert results["a"]["duplicates"] + results["b"]["duplicates"] == 150


@pytest.mark.django_db
class TestBadInput:
    def post(self, client, payload):
        return client.post(URL, payload, format="json")

    def assert_nothing_stored(self):
        assert Transaction.objects.count() == 0

    def test_malformed_json(self, api_client):
        response = api_client.post(URL, data='{"external_id": ', content_type="application/json")
        assert response.status_code == 400
        assert "JSON parse error" in response.json()["detail"]
        self.assert_nothing_stored()

    def test_json_array_top_level(self, api_client):
        response = api_client.post(URL, data=json.dumps([txn()]), content_type="application/json")
        assert response.status_code == 400
        self.assert_nothing_stored()

    @pytest.mark.parametrize("field", ["external_id", "account_id", "amount", "occurred_at"])
    def test_missing_required_field(self, api_client, field):
        item = txn()
        del item[field]
        response = self.post(api_client, item)
        assert response.status_code == 400
        assert response.json()["errors"]["0"][field] == ["This field is required."]
        self.assert_nothing_stored()

    @pytest.mark.parametrize(
        ("amount", "message"),
        [
            ("-5.00", "greater than or equal to 0.01"),
            ("0", "greater than or equal to 0.01"),
            ("abc", "A valid number is required."),
            ("1.234", "no more than 2 decimal places"),
        ],
    )
    def test_bad_amount(self, api_client, amount, message):
        response = self.post(api_client, txn(amount=amount))
        assert response.status_code == 400
        assert message in response.json()["errors"]["0"]["amount"][0]
        self.assert_nothing_stored()

    def test_unknown_currency(self, api_client):
        response = self.post(api_client, txn(currency="XYZ"))
        assert response.status_code == 400
        assert "ISO 4217" in response.json()["errors"]["0"]["currency"][0]

    def test_unknown_country(self, api_client):
        response = self.post(api_client, txn(country="QQ"))
        assert "ISO 3166" in response.json()["errors"]["0"]["country"][0]

    def test_naive_timestamp(self, api_client):
        response = self.post(api_client, txn(occurred_at="2026-11-20T10:15:00"))
        assert response.status_code == 400
        assert "no time zone" in response.json()["errors"]["0"]["occurred_at"][0]
        self.assert_nothing_stored()

    @pytest.mark.parametrize("value", ["yesterday", "2026-13-45T10:00:00Z", 1700000000])
    def test_unparseable_timestamp(self, api_client, value):
        response = self.post(api_client, txn(occurred_at=value))
        assert response.status_code == 400
        assert "ISO 8601" in response.json()["errors"]["0"]["occurred_at"][0]

    def test_unknown_field(self, api_client):
        response = self.post(api_client, txn(cardholder_name="Jane"))
        assert response.status_code == 400
        assert "Unknown field" in response.json()["errors"]["0"]["cardholder_name"][0]
        self.assert_nothing_stored()

    def test_latitude_without_longitude(self, api_client):
        item = txn()
        del item["longitude"]
        response = self.post(api_client, item)
        assert "longitude" in response.json()["errors"]["0"]

    def test_one_bad_item_rejects_the_whole_batch(self, api_client):
        items = [txn(i) for i in range(10)]
        items[3]["amount"] = "-1"
        items[7]["occurred_at"] = "not a date"
        response = self.post(api_client, {"transactions": items})
        assert response.status_code == 400
        body = response.json()
        assert set(body["errors"]) == {"3", "7"}
        assert "amount" in body["errors"]["3"] and "occurred_at" in body["errors"]["7"]
        assert "nothing was stored" in body["detail"]
        self.assert_nothing_stored()

    def test_repeated_external_id_within_a_batch(self, api_client):
        response = self.post(api_client, {"transactions": [txn(1), txn(2), txn(1)]})
        assert response.status_code == 400
        assert "item 0" in response.json()["errors"]["2"]["external_id"][0]
        self.assert_nothing_stored()

    def test_batch_over_limit(self, api_client, settings):
        settings.INGEST_MAX_BATCH = 5
        response = self.post(api_client, {"transactions": [txn(i) for i in range(6)]})
        assert response.status_code == 413
        assert "exceeds the limit of 5" in response.json()["detail"]
        self.assert_nothing_stored()

    def test_empty_batch(self, api_client):
        response = self.post(api_client, {"transactions": []})
        assert response.status_code == 400

    def test_extra_top_level_keys(self, api_client):
        response = self.post(api_client, {"transactions": [txn()], "source": "x"})
        assert response.status_code == 400
        assert "source" in response.json()["errors"]

    def test_body_too_large(self, api_client, settings):
        settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
        response = self.post(api_client, {"transactions": [txn(i) for i in range(20)]})
        assert response.status_code == 413
        self.assert_nothing_stored()


@pytest.mark.django_db
class TestAuth:
    def test_no_credentials(self):
        response = APIClient().post(URL, txn(), format="json")
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == "Api-Key"

    def test_wrong_key(self):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION="Api-Key fck_deadbeef_nottherightsecret")
        response = client.post(URL, txn(), format="json")
        assert response.status_code == 401
        assert response.json()["detail"] == "Invalid API key."
        assert Transaction.objects.count() == 0

    def test_revoked_key(self, api_key, api_client):
        api_key_revoke(key=api_key[0])
        response = api_client.post(URL, txn(), format="json")
        assert response.status_code == 401
        assert "revoked" in response.json()["detail"]
        assert Transaction.objects.count() == 0

    def test_signed_in_user_cannot_ingest(self, make_user):
        client = APIClient()
        client.force_authenticate(make_user("admin"))
        assert client.post(URL, txn(), format="json").status_code == 403

    def test_key_is_stored_hashed(self, api_key):
        key, plaintext = api_key
        assert plaintext not in key.key_hash and len(key.key_hash) == 64
